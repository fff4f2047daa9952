package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/vision/faceapi"
	"github.com/everify/everify/internal/vision/visiontest"
)

// requireMatchModels makes the test need the face-match models (failing
// under CI=true when they are missing).
func requireMatchModels(t *testing.T) {
	t.Helper()
	visiontest.Runtime(t, "blazeface-front", "blazeface-back", "facemesh", faceapi.EmbedderModel)
}

func TestMatchCommand(t *testing.T) {
	requireMatchModels(t)
	dir := evaldata.Require(t, "deepface-unit")
	a, b := filepath.Join(dir, "img2.jpg"), filepath.Join(dir, "img4.jpg") // the same person
	code, out, errOut := run(t, "match", "--json", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"match_score", "is_match", "confidence", "source_face", "target_face", "model_version"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON result lacks %q: %s", k, out)
		}
	}
	if res["is_match"] != true {
		t.Errorf("the same person did not match: %s", out)
	}

	// Text output, and a different person at a threshold of 60.
	code, out, errOut = run(t, "match", "--threshold", "60", a, filepath.Join(dir, "img24.jpg"))
	if code != 0 || !strings.HasPrefix(out, "no match at threshold 60: score") {
		t.Errorf("exit %d, output %q %s", code, out, errOut)
	}

	// No face: exit 1 with the code and the file at fault.
	blank := filepath.Join(t.TempDir(), "blank.png")
	if err := os.WriteFile(blank, pngBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "match", a, blank)
	if code != 1 || !strings.Contains(errOut, "no_face_detected") || !strings.Contains(errOut, blank) {
		t.Errorf("blank target: exit %d, %q", code, errOut)
	}
	if code, _, _ = run(t, "match", "--threshold", "101", a, b); code != 2 {
		t.Errorf("threshold 101: exit %d, want 2", code)
	}
}

// TestEvalFacesCommand runs a small `eval faces` (3 pairs of each class
// per fold) and checks the JSON report's fields.
func TestEvalFacesCommand(t *testing.T) {
	requireMatchModels(t)
	pairs := evaldata.Require(t, "lfw-dev/pairs.txt")
	code, out, errOut := run(t, "eval", "faces", "--pairs", pairs, "--images", filepath.Join(filepath.Dir(pairs), "images"), "--limit", "3", "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Accuracy         *float64 `json:"accuracy"`
		TAR              *float64 `json:"tar_at_far_1e3"`
		EER              *float64 `json:"eer"`
		Pairs            int      `json:"pairs"`
		FailuresToDetect *int     `json:"failures_to_detect"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Accuracy == nil || rep.TAR == nil || rep.EER == nil || rep.FailuresToDetect == nil || rep.Pairs != 30 {
		t.Fatalf("report lacks fields or has %d pairs: %s", rep.Pairs, out)
	}
	if *rep.Accuracy < 0.8 || *rep.FailuresToDetect != 0 {
		t.Errorf("accuracy %.3f with %d failures on 30 easy pairs", *rep.Accuracy, *rep.FailuresToDetect)
	}
	if code, _, _ := run(t, "eval", "faces", "--images", "x"); code != 2 {
		t.Errorf("no --pairs: exit %d, want 2", code)
	}
}

// TestServeFaceMatch goes through the real server and engine: inline
// base64 images give the seed's result fields; a blank image is 422
// no_face_detected naming its field.
func TestServeFaceMatch(t *testing.T) {
	requireMatchModels(t)
	t.Setenv(databaseURLEnv, "")
	dir := evaldata.Require(t, "deepface-unit")
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(data)
	}
	dataDir := t.TempDir()
	k := createKey(t, "--data-dir", dataDir, "--tenant", "acme")
	srv := serve(t, "--data-dir", dataDir)
	c := client.New(srv.url, k.Key)
	ctx := context.Background()
	res, err := c.FaceMatch(ctx, &client.FaceMatchRequest{SourceImageBase64: read("img2.jpg"), TargetImageBase64: read("img4.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Result
	if res.Status != "completed" || r == nil || !r.IsMatch || r.MatchScore < 80 || r.Confidence <= 0 || r.Confidence > 100 {
		t.Fatalf("response %+v, result %+v", res, r)
	}
	if r.SourceFace == nil || r.TargetFace == nil || r.SourceFaces != 1 || r.ModelVersion == "" {
		t.Errorf("result additions missing: %+v", r)
	}
	th := 95.0
	res, err = c.FaceMatch(ctx, &client.FaceMatchRequest{SourceImageBase64: read("img2.jpg"), TargetImageBase64: read("img24.jpg"), Threshold: &th})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result.IsMatch {
		t.Errorf("different people matched: %+v", res.Result)
	}
	_, err = c.FaceMatch(ctx, &client.FaceMatchRequest{SourceImageBase64: base64.StdEncoding.EncodeToString(pngBytes), TargetImageBase64: read("img4.jpg")})
	wantAPIError(t, err, 422, "no_face_detected")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Field != "source_image_base64" {
		t.Errorf("error field %q, want source_image_base64", apiErr.Field)
	}
}
