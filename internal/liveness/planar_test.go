package liveness

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

func TestFitHomographyRecoversPlaneMotion(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	h := planeHomography(200, 200, 1.3, 4, 25, -10, 700, 320, 240)
	var src, dst []biometric.Point
	for range 30 {
		p := biometric.Point{X: 200 * rng.Float64(), Y: 200 * rng.Float64()}
		src = append(src, p)
		dst = append(dst, homography(h).apply(p))
	}
	got, err := fitHomography(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if e := rmsError(got, src, dst); e > 1e-6 {
		t.Errorf("exact plane motion fitted with rms error %g", e)
	}
	sim, _ := fitSimilarity(src, dst)
	if e := rmsError(sim, src, dst); e < 1 {
		t.Errorf("a 25° turn of the plane should not be a similarity, rms error %g", e)
	}
}

func TestFitHomographyLeavesParallax(t *testing.T) {
	t.Parallel()
	// Points of a bumpy 3-D surface (a nose in front of a plane) turned by
	// 20° about the vertical axis: no homography maps the views.
	rng := rand.New(rand.NewPCG(3, 4))
	project := func(x, y, z, yaw float64) biometric.Point {
		s, c := math.Sincos(yaw * math.Pi / 180)
		X, Z := c*x-s*z, s*x+c*z+600
		return biometric.Point{X: 800 * X / Z, Y: 800 * y / Z}
	}
	var src, dst []biometric.Point
	for range 30 {
		x, y := 100*rng.Float64()-50, 100*rng.Float64()-50
		z := -40 * math.Exp(-(x*x+y*y)/800) // the nose points at the camera
		src = append(src, project(x, y, z, 0))
		dst = append(dst, project(x, y, z, 20))
	}
	h, err := fitHomography(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if e := rmsError(h, src, dst); e < 1 {
		t.Errorf("parallax of a turning 3-D surface fitted by a homography to %.3f px", e)
	}
}

func TestFitDegenerate(t *testing.T) {
	t.Parallel()
	pts := []biometric.Point{{X: 1, Y: 1}, {X: 2, Y: 2}, {X: 3, Y: 3}}
	if _, err := fitHomography(pts, pts); err == nil {
		t.Error("three points should not determine a homography")
	}
	if _, err := fitSimilarity(pts[:1], pts[:1]); err == nil {
		t.Error("one point should not determine a similarity")
	}
}

func TestSymmetricEigen(t *testing.T) {
	t.Parallel()
	var a [9][9]float64
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 9 {
		for j := i; j < 9; j++ {
			a[i][j] = rng.NormFloat64()
			a[j][i] = a[i][j]
		}
	}
	vals, vecs := symmetricEigen(a)
	for k := range 9 {
		for i := range 9 {
			var av float64
			for j := range 9 {
				av += a[i][j] * vecs[j][k]
			}
			if d := math.Abs(av - vals[k]*vecs[i][k]); d > 1e-9 {
				t.Fatalf("A·v ≠ λ·v for eigenpair %d (error %g)", k, d)
			}
		}
	}
}
