package faceapi

import (
	"fmt"
	"math"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// dlib's mean frontal face: the average positions of the 68-point
// landmarks 17-67 on the unit square, as get_face_chip_details in dlib's
// image_transforms/interpolation.h uses them. Index i here is point i+17.
var (
	meanFaceX = [51]float64{
		0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
		0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
		0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
		0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
		0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
		0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
		0.553364, 0.490127, 0.42689,
	}
	meanFaceY = [51]float64{
		0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
		0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
		0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
		0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
		0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
		0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
		0.784792, 0.824182, 0.831803, 0.824182,
	}
)

// meanFace returns dlib's mean-face position of 68-point landmark i
// (17 <= i < 68).
func meanFace(i int) biometric.Point {
	return biometric.Point{X: meanFaceX[i-17], Y: meanFaceY[i-17]}
}

// dlib's 5-point template (the same file), in the order of its 5-point
// shape predictor: left eye outer and inner corner, right eye outer and
// inner corner, base of the nose ("left" being the person's).
var dlib5Template = [5]biometric.Point{
	{X: 0.8595674595992, Y: 0.2134981538014},
	{X: 0.6460604764104, Y: 0.2289674387677},
	{X: 0.1205750620789, Y: 0.2137274526848},
	{X: 0.3340850613712, Y: 0.2290642403242},
	{X: 0.4901123135679, Y: 0.6277975316475},
}

// dlib5Points are the 68-point landmarks closest to dlib's five.
var dlib5Points = [5]int{leftEyeFirst + 3, leftEyeFirst, rightEyeFirst, rightEyeFirst + 3, noseBase}

// dlib68Points are the points get_face_chip_details fits for a 68-point
// shape: 27-54 and 60-64 (eyes, nose, outer mouth without the lower lip,
// inner upper lip); the jaw, eyebrows and lower lip move too much with
// expression and pose.
var dlib68Points = func() []int {
	var idx []int
	for i := 27; i < numPoints; i++ {
		if (55 <= i && i <= 59) || (65 <= i && i <= 67) {
			continue
		}
		idx = append(idx, i)
	}
	return idx
}()

// dlib68Template is dlib's mean face at dlib68Points.
var dlib68Template = func() []biometric.Point {
	t := make([]biometric.Point, len(dlib68Points))
	for i, k := range dlib68Points {
		t[i] = meanFace(k)
	}
	return t
}()

// namedTemplate is where the five named landmarks (eye centres, nose tip,
// mouth corners) sit on dlib's mean face, for faces that come without the
// 68 points.
var namedTemplate = func() [5]biometric.Point {
	eye := func(first int) biometric.Point {
		var ps []biometric.Point
		for i := first; i < first+6; i++ {
			ps = append(ps, meanFace(i))
		}
		return mean(ps)
	}
	return [5]biometric.Point{eye(leftEyeFirst), eye(rightEyeFirst), meanFace(noseTip), meanFace(mouthLeft), meanFace(mouthRight)}
}()

// chipTransform returns the transform from the pixels of a size x size
// chip to the image that dlib's extract_image_chip(img,
// get_face_chip_details(...)) samples. The least-squares similarity from
// the template points (on the unit square, padded by padding on every side,
// times size) to the image points gives the chip's scale and angle, and
// the image position of template point (size/2, size/2) becomes the chip's
// centre; the chip's first and last pixel centres then map to the ends of a
// size*scale-1 long span about it, so a chip pixel spans
// (size*scale-1)/(size-1) image pixels. dlib puts pixel centres at integer
// coordinates (so its "centre" is half a pixel off the chip's middle);
// points here, as everywhere in vision, have them at +0.5. Both quirks are
// kept: the network learnt from dlib's chips.
func chipTransform(template, points []biometric.Point, size int, padding float64) (vision.Affine, error) {
	n := float64(size)
	from := make([]biometric.Point, len(template))
	to := make([]biometric.Point, len(points))
	for i, t := range template {
		from[i] = biometric.Point{X: (padding + t.X) / (2*padding + 1) * n, Y: (padding + t.Y) / (2*padding + 1) * n}
		to[i] = biometric.Point{X: points[i].X - 0.5, Y: points[i].Y - 0.5}
	}
	sim, err := vision.EstimateSimilarity(from, to)
	if err != nil {
		return vision.Affine{}, fmt.Errorf("faceapi: aligning face: %w", err)
	}
	scale := math.Hypot(sim.A, sim.D)
	if !(scale > 1e-6) || math.IsInf(scale, 0) || math.IsNaN(sim.C+sim.F) {
		return vision.Affine{}, fmt.Errorf("faceapi: aligning face: landmarks are degenerate (scale %g)", scale)
	}
	angle := math.Atan2(sim.D, sim.A)
	c := sim.Apply(biometric.Point{X: n / 2, Y: n / 2})
	step := (n*scale - 1) / (n - 1)
	return vision.Translate(-n/2, -n/2).
		Then(vision.ScaleXY(step, step)).
		Then(vision.Rotate(angle)).
		Then(vision.Translate(c.X+0.5, c.Y+0.5)), nil
}
