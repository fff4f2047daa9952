package liveness

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// TimestampsFile, inside a frame directory, gives each frame's capture
// time: one integer (ms) per line, in file-name order. Without it the
// frames are DefaultFPS (or the given rate) apart.
const TimestampsFile = "timestamps.txt"

// LoadOptions configures LoadCapture.
type LoadOptions struct {
	// FPS is the frame rate of a frame directory without timestamps and
	// the sampling rate of a video; DefaultFPS if zero.
	FPS float64
	// Mimic is passed to HandheldClip for a still image.
	Mimic []biometric.ChallengeType
	// FFmpeg is the ffmpeg executable for videos ("ffmpeg" if empty).
	FFmpeg string
}

// LoadCapture reads a capture from path: a directory of frames (image
// files in file-name order, timed by TimestampsFile or FPS), a single
// image (turned into a hand-held still-photo clip by HandheldClip, seeded
// by the path so that it is reproducible) or a video (decoded with ffmpeg
// at FPS).
func LoadCapture(ctx context.Context, path string, opts LoadOptions) (*biometric.Capture, error) {
	if opts.FPS <= 0 {
		opts.FPS = DefaultFPS
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var frames []biometric.Frame
	switch {
	case st.IsDir():
		frames, err = ReadFrameDir(path, opts.FPS)
	case slices.Contains(imageExts, strings.ToLower(filepath.Ext(path))):
		frames, err = stillClip(path, opts.Mimic)
	default:
		frames, err = DecodeVideo(ctx, path, VideoOptions{FPS: opts.FPS, FFmpeg: opts.FFmpeg})
	}
	if err != nil {
		return nil, err
	}
	return &biometric.Capture{Frames: frames}, nil
}

// ReadFrameDir reads the frames of a directory in file-name order, timed
// by its TimestampsFile when there is one and fps apart otherwise.
func ReadFrameDir(dir string, fps float64) ([]biometric.Frame, error) {
	frames, err := readFrameFiles(dir, fps)
	if err != nil {
		return nil, err
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no image files", dir)
	}
	ts, err := readTimestamps(filepath.Join(dir, TimestampsFile))
	switch {
	case os.IsNotExist(err):
		return frames, nil
	case err != nil:
		return nil, err
	case len(ts) != len(frames):
		return nil, fmt.Errorf("%s: %d timestamps for %d frames", dir, len(ts), len(frames))
	}
	for i := range frames {
		frames[i].AtMS = ts[i]
	}
	return frames, nil
}

func readTimestamps(path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ts []int64
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		ts = append(ts, v)
	}
	return ts, sc.Err()
}

// stillClip turns the image at path into a hand-held clip seeded by the
// path's hash.
func stillClip(path string, mimic []biometric.ChallengeType) ([]biometric.Frame, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := imagein.Decode(data, imagein.Limits{MaxBytes: 64 << 20, MaxPixels: 100_000_000})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h := fnv.New64a()
	h.Write([]byte(filepath.Base(path)))
	return HandheldClip(img.RGBA, HandheldOptions{Seed: h.Sum64(), Mimic: mimic})
}

// WriteFrameDir writes frames into dir (created if needed; it should hold
// no other images) as 000000.jpg, 000001.jpg, … with their timestamps in
// TimestampsFile, so that ReadFrameDir reads them back unchanged.
func WriteFrameDir(dir string, frames []biometric.Frame) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ts strings.Builder
	for i, f := range frames {
		ext := ".jpg"
		switch f.ContentType {
		case "image/png":
			ext = ".png"
		case "image/webp":
			ext = ".webp"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d%s", i, ext)), f.Image, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(&ts, f.AtMS)
	}
	return os.WriteFile(filepath.Join(dir, TimestampsFile), []byte(ts.String()), 0o644)
}
