package liveness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// DefaultFPS is the frame rate at which videos are sampled and frame
// directories are timed when nothing else says.
const DefaultFPS = 15

// DefaultMaxSide bounds the longer side of frames extracted from a video:
// larger frames cost decoding time and add nothing to a face that fills a
// good part of the picture.
const DefaultMaxSide = 640

// VideoOptions configures DecodeVideo.
type VideoOptions struct {
	FPS     float64 // sampling rate; DefaultFPS if zero
	MaxSide int     // longer side of the frames; DefaultMaxSide if zero
	// MaxFrames stops decoding after this many frames (0: no limit).
	MaxFrames int
	// Filter is an ffmpeg filter chain applied before sampling, for
	// example to undo a frame-rate conversion that repeated frames.
	Filter string
	// FFmpeg is the ffmpeg executable; "ffmpeg" (looked up in $PATH) if empty.
	FFmpeg string
}

// DecodeVideo samples the video file at path with ffmpeg at opts.FPS
// frames per second, scaled down so that the longer side is at most
// opts.MaxSide (honouring the container's rotation), and returns the
// frames as JPEG images timed i·1000/FPS ms from the first.
func DecodeVideo(ctx context.Context, path string, opts VideoOptions) ([]biometric.Frame, error) {
	if opts.FPS <= 0 {
		opts.FPS = DefaultFPS
	}
	if opts.MaxSide <= 0 {
		opts.MaxSide = DefaultMaxSide
	}
	if opts.FFmpeg == "" {
		opts.FFmpeg = "ffmpeg"
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "everify-frames-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	m := opts.MaxSide
	scale := fmt.Sprintf("scale=w='if(gte(iw,ih),min(%d,iw),-2)':h='if(gte(iw,ih),-2,min(%d,ih))'", m, m)
	chain := fmt.Sprintf("fps=%g,%s", opts.FPS, scale)
	if opts.Filter != "" {
		chain = opts.Filter + "," + chain
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-i", path,
		"-an", "-vf", chain, "-q:v", "3"}
	if opts.MaxFrames > 0 {
		args = append(args, "-frames:v", fmt.Sprint(opts.MaxFrames))
	}
	args = append(args, filepath.Join(dir, "%06d.jpg"))
	cmd := exec.CommandContext(ctx, opts.FFmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("decoding %s: ffmpeg is not installed (apt-get install ffmpeg): %w", path, err)
		}
		return nil, fmt.Errorf("decoding %s with ffmpeg: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	frames, err := readFrameFiles(dir, opts.FPS)
	if err != nil {
		return nil, err
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("decoding %s: the video has no frames", path)
	}
	return frames, nil
}

// imageExts are the file extensions read as frames.
var imageExts = []string{".jpg", ".jpeg", ".png", ".webp"}

// frameFiles returns the image files of dir in file-name order.
func frameFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			if slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
				names = append(names, e.Name())
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// readFrameFiles reads the image files of dir, in file-name order, as
// frames fps apart.
func readFrameFiles(dir string, fps float64) ([]biometric.Frame, error) {
	names, err := frameFiles(dir)
	if err != nil {
		return nil, err
	}
	frames := make([]biometric.Frame, 0, len(names))
	for i, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		frames = append(frames, biometric.Frame{
			Index:       i,
			AtMS:        int64(float64(i)*1000/fps + 0.5),
			Image:       data,
			ContentType: contentType(n),
		})
	}
	return frames, nil
}

func contentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	default:
		return "image/jpeg"
	}
}
