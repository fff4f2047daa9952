package liveness

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

func TestHandheldClipDeterministicAndMoving(t *testing.T) {
	t.Parallel()
	opts := HandheldOptions{Seed: 11, Frames: 20, Mimic: []biometric.ChallengeType{biometric.ChallengeTurnLeft}}
	a := photoClip(t, "deepface-unit/img2.jpg", opts)
	b := photoClip(t, "deepface-unit/img2.jpg", opts)
	if len(a) != 20 {
		t.Fatalf("%d frames, want 20", len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].Image, b[i].Image) || a[i].AtMS != b[i].AtMS {
			t.Fatalf("frame %d differs between two runs with the same seed", i)
		}
	}
	if a[19].AtMS != 19*1000/15+1 && a[19].AtMS != 19*1000/15 {
		t.Errorf("last frame at %d ms, want about %d", a[19].AtMS, 19*1000/15)
	}
	img, err := imagein.Decode(a[0].Image, imagein.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b := img.RGBA.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Errorf("frame size %v, want 640x480", b)
	}
	// The photo moves and the sensor is noisy: no two frames are alike.
	obs := []frameObs{}
	for _, f := range a {
		rgb, err := decodeFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		obs = append(obs, frameObs{Digest: sha256.Sum256(f.Image), Thumb: thumbnail(rgb), W: rgb.W, H: rgb.H})
	}
	if n, _ := duplicates(obs, DefaultIntegrityThresholds); n != 0 {
		t.Errorf("%d frames look repeated", n)
	}
}
