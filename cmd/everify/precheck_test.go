package main

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"os"
	"testing"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision/visiontest"
)

// precheckAnswer is the part of the pre-check's answer these tests read.
type precheckAnswer struct {
	FaceFound    bool   `json:"face_found"`
	Faces        int    `json:"faces"`
	Framing      string `json:"framing"`
	Instructions string `json:"instructions"`
	Error        *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// sdkOval is the SDK's oval (ovalInFrame) on a w x h preview: the stage
// shows the centre of the picture at 3:4, with the oval's centre at
// (150, 185) and its radii (100, 135) in the stage's 300x400 units.
func sdkOval(w, h int) string {
	vis := float64(w)
	if float64(w)/float64(h) > 0.75 {
		vis = float64(h) * 0.75
	}
	k := vis / 300
	return fmt.Sprintf("%g,%g,%g,%g", float64(w)/2, float64(h)/2-15*k, 100*k, 135*k)
}

// postPrecheck sends one preview frame, a half-size copy of a w x h
// camera picture, with the SDK's oval, and returns the status and the
// answer.
func postPrecheck(t *testing.T, base string, s *client.StartLivenessResponse, frame []byte, w, h int) (int, precheckAnswer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("frame", "preview.jpg")
	fw.Write(frame)
	mw.WriteField("oval", sdkOval(w/2, h/2))
	mw.WriteField("frame_size", fmt.Sprintf("%dx%d", w, h))
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/v1/biometrics/liveness/"+s.SessionID+"/precheck", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.SessionToken)
	var out precheckAnswer
	return send(t, req, &out), out
}

// halfJPEG returns img at half its size (2x2 block means) as a JPEG, as
// the SDK sends a 320-pixel preview of a 640-pixel camera picture.
func halfJPEG(t *testing.T, img *image.RGBA) []byte {
	t.Helper()
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	for y := range out.Rect.Dy() {
		for x := range out.Rect.Dx() {
			for c := range 4 {
				s := 0
				for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
					s += int(img.Pix[(2*y+d[1])*img.Stride+4*(2*x+d[0])+c])
				}
				out.Pix[y*out.Stride+4*x+c] = uint8(s / 4)
			}
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestServePrecheck runs the framing pre-check of a real server with the
// real models: a portrait photo as a 480x640 camera picture has its
// face found and placed; a blank picture has none. A server without face
// engines answers 503, so that the SDK goes on without the pre-check.
func TestServePrecheck(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	visiontest.Runtime(t, "blazeface-front", "facemesh") // the models, or a CI failure
	data, err := os.ReadFile(evaldata.Require(t, "pad-samples/head_640x480/image_F1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	photo, err := imagein.Decode(data, imagein.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pw, ph := photo.RGBA.Bounds().Dx(), photo.RGBA.Bounds().Dy() // 480x640

	srv := serve(t, "--data-dir", t.TempDir(), "--demo")
	var s client.StartLivenessResponse
	if code := postJSON(t, srv.url+"/demo/api/session", "", map[string]any{}, &s); code != 200 {
		t.Fatalf("demo session: %d", code)
	}
	code, got := postPrecheck(t, srv.url, &s, halfJPEG(t, photo.RGBA), pw, ph)
	if code != 200 || !got.FaceFound || got.Faces != 1 || got.Instructions == "" {
		t.Fatalf("the photo: %d %+v", code, got)
	}
	switch got.Framing {
	case "ok", "off_centre", "too_far", "too_close":
	default:
		t.Errorf("the photo: framing %q, want ok or a positional instruction", got.Framing)
	}
	code, got = postPrecheck(t, srv.url, &s, halfJPEG(t, image.NewRGBA(image.Rect(0, 0, 640, 480))), 640, 480)
	if code != 200 || got.FaceFound || got.Faces != 0 || got.Framing != "no_face" {
		t.Errorf("a blank picture: %d %+v", code, got)
	}

	bare := serve(t, "--data-dir", t.TempDir(), "--demo", "--liveness=false", "--face-match=false")
	if code := postJSON(t, bare.url+"/demo/api/session", "", map[string]any{}, &s); code != 200 {
		t.Fatalf("demo session without engines: %d", code)
	}
	code, got = postPrecheck(t, bare.url, &s, halfJPEG(t, photo.RGBA), pw, ph)
	if code != 503 || got.Error == nil || got.Error.Code != "framing_check_unavailable" {
		t.Errorf("without face engines: %d %+v", code, got)
	}
}
