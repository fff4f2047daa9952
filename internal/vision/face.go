package vision

import (
	"context"
	"image"

	"github.com/everify/everify/internal/biometric"
)

// Face is one face found in an image, in that image's pixel coordinates.
type Face struct {
	Box   biometric.Box
	Score float64 // detector confidence, 0-1
	// Landmarks are the five named points (eyes, nose, mouth corners).
	Landmarks biometric.Landmarks
	// Keypoints are the detector's or landmarker's raw points, in the
	// model's own order (BlazeFace: 6; face-api: 68; FaceMesh: 468).
	Keypoints []biometric.Point
	// Mesh is the dense 3-D mesh (x, y in pixels, z relative depth) when a
	// mesh model ran; nil otherwise.
	Mesh [][3]float64
	Pose biometric.Pose
}

// Detector finds faces in an image.
type Detector interface {
	// Detect returns the faces found, most confident first.
	Detect(ctx context.Context, img image.Image) ([]Face, error)
}

// Landmarker refines a detected face: landmarks, mesh and pose.
type Landmarker interface {
	// Landmarks returns f with Landmarks, Keypoints, Mesh and Pose filled in
	// from the landmark model.
	Landmarks(ctx context.Context, img image.Image, f Face) (Face, error)
}

// Embedder maps a face to an identity embedding.
type Embedder interface {
	// Name is the embedding model's name (e.g. "faceres").
	Name() string
	// Dim is the embedding length.
	Dim() int
	// Embed aligns and crops the face as the model expects and returns its
	// L2-normalised embedding.
	Embed(ctx context.Context, img image.Image, f Face) ([]float32, error)
}

// AttackScorer scores a face for presentation attacks from one image.
type AttackScorer interface {
	// Name is the model's name (e.g. "antispoof", "liveness").
	Name() string
	// Score returns the probability, 0-1, that the face is bona fide (live).
	Score(ctx context.Context, img image.Image, f Face) (float64, error)
}
