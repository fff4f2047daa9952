package liveness

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// HandheldOptions configures HandheldClip. Zero fields take the defaults
// in parentheses.
type HandheldOptions struct {
	Seed   uint64  // the clip is a deterministic function of the image and Seed
	Frames int     // (60)
	FPS    float64 // (15)
	Width  int     // (640)
	Height int     // (480)
	// Mimic lists challenge actions the person holding the photo tries to
	// imitate by turning the photo: turn_left and turn_right swing it
	// about its vertical axis (about 30°), nod tips it forwards and back.
	// Other actions cannot be imitated with a photo and are ignored.
	Mimic []biometric.ChallengeType
}

// HandheldClip turns a still photo into the frames of a capture that shows
// the photo held up to the camera: the photo is a plane in front of a
// plain wall, seen in perspective, and it drifts, tips and turns slowly
// as a hand would move it (a sum of slow random sinusoids, plus the
// deliberate swings of opts.Mimic); each frame gets a little focus blur,
// brightness drift and sensor noise, and is JPEG-encoded at a quality
// between 80 and 92.
func HandheldClip(photo image.Image, opts HandheldOptions) ([]biometric.Frame, error) {
	if opts.Frames <= 0 {
		opts.Frames = 60
	}
	if opts.FPS <= 0 {
		opts.FPS = DefaultFPS
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 640, 480
	}
	src := vision.ToRGB(photo)
	if src.W < 8 || src.H < 8 {
		return nil, fmt.Errorf("handheld clip: the photo is only %dx%d pixels", src.W, src.H)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	W, H := float64(opts.Width), float64(opts.Height)
	// At rest the photo's height fills 60-90 % of the frame.
	rest := (0.6 + 0.3*rng.Float64()) * H / float64(src.H)
	focal := 1.1 * W
	motion := []*wobble{
		newWobble(rng, 3), newWobble(rng, 5), newWobble(rng, 5), // roll, yaw, pitch (degrees)
		newWobble(rng, 0.03*W), newWobble(rng, 0.03*H), // x, y (pixels)
		newWobble(rng, 0.04), newWobble(rng, 0.06), // scale, brightness (relative)
	}
	duration := float64(opts.Frames) / opts.FPS
	swings := mimicSwings(opts.Mimic, duration)
	wall := [3]float64{90 + 100*rng.Float64(), 90 + 100*rng.Float64(), 90 + 100*rng.Float64()}

	frames := make([]biometric.Frame, opts.Frames)
	dst := vision.NewRGB(opts.Width, opts.Height)
	for i := range frames {
		t := float64(i) / opts.FPS
		roll, yaw, pitch := motion[0].at(t), motion[1].at(t), motion[2].at(t)
		for _, s := range swings {
			y, p := s.at(t)
			yaw += y
			pitch += p
		}
		scale := rest * (1 + motion[5].at(t))
		gain := 1 + motion[6].at(t)
		h := planeHomography(float64(src.W), float64(src.H), scale, roll, yaw, pitch, focal,
			W/2+motion[3].at(t), H/2+motion[4].at(t))
		inv, ok := invert3x3(h)
		if !ok {
			return nil, fmt.Errorf("handheld clip: degenerate pose at frame %d", i)
		}
		renderPlane(dst, src, inv, wall, gain, rng)
		blurred := boxBlur(dst, rng.IntN(2))
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, rgbImage(blurred), &jpeg.Options{Quality: 80 + rng.IntN(13)}); err != nil {
			return nil, err
		}
		frames[i] = biometric.Frame{Index: i, AtMS: int64(math.Round(t * 1000)), Image: buf.Bytes(), ContentType: "image/jpeg"}
	}
	return frames, nil
}

// wobble is a slow random motion: the sum of three sinusoids of 0.1-0.8 Hz
// with random phases, scaled so that its amplitude is about amp.
type wobble struct {
	amp   float64
	freq  [3]float64
	phase [3]float64
}

func newWobble(rng *rand.Rand, amp float64) *wobble {
	w := &wobble{amp: amp}
	for k := range 3 {
		w.freq[k] = 0.1 + 0.7*rng.Float64()
		w.phase[k] = 2 * math.Pi * rng.Float64()
	}
	return w
}

func (w *wobble) at(t float64) float64 {
	var v float64
	for k := range 3 {
		v += math.Sin(2*math.Pi*w.freq[k]*t + w.phase[k])
	}
	return w.amp * v / 3
}

// swing is one deliberate turn of the photo: a raised-cosine excursion of
// yaw and pitch (degrees) centred at mid, lasting dur seconds.
type swing struct {
	mid, dur   float64
	yaw, pitch float64
}

func (s swing) at(t float64) (yaw, pitch float64) {
	x := (t - s.mid) / s.dur
	if math.Abs(x) >= 0.5 {
		return 0, 0
	}
	k := 0.5 * (1 + math.Cos(2*math.Pi*x))
	return k * s.yaw, k * s.pitch
}

// mimicSwings spreads one swing per imitable action evenly over the clip,
// in order. Yaw follows biometric.Pose: a photo turned so that its face
// points to the image's right imitates the person turning to their left.
func mimicSwings(actions []biometric.ChallengeType, duration float64) []swing {
	var out []swing
	for i, a := range actions {
		s := swing{mid: duration * (float64(i) + 0.5) / float64(len(actions)), dur: math.Min(1.5, duration/float64(len(actions)))}
		switch a {
		case biometric.ChallengeTurnLeft:
			s.yaw = 30
		case biometric.ChallengeTurnRight:
			s.yaw = -30
		case biometric.ChallengeNod:
			s.pitch = -25
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

// planeHomography maps photo pixel coordinates to frame coordinates for a
// photo w x h shown at scale (frame pixels per photo pixel when facing the
// camera), turned by roll, yaw and pitch (degrees) about its centre, which
// is seen at (cx, cy) by a pinhole camera of focal length focal.
func planeHomography(w, h, scale, roll, yaw, pitch, focal, cx, cy float64) [3][3]float64 {
	rad := math.Pi / 180
	sr, cr := math.Sincos(roll * rad)
	sy, cyw := math.Sincos(yaw * rad)
	sp, cp := math.Sincos(pitch * rad)
	// R = Rz(roll) · Ry(yaw) · Rx(pitch); only its first two columns act on
	// points of the plane z = 0.
	rz := [3][3]float64{{cr, -sr, 0}, {sr, cr, 0}, {0, 0, 1}}
	ry := [3][3]float64{{cyw, 0, -sy}, {0, 1, 0}, {sy, 0, cyw}}
	rx := [3][3]float64{{1, 0, 0}, {0, cp, -sp}, {0, sp, cp}}
	r := mul3x3(rz, mul3x3(ry, rx))
	// Plane point (u, v) in photo pixels, centred: P = R·(s·(u-w/2), s·(v-h/2), 0) + (0, 0, focal).
	// Image: x = focal·X/Z + cx, y = focal·Y/Z + cy.
	center := [3][3]float64{{scale, 0, -scale * w / 2}, {0, scale, -scale * h / 2}, {0, 0, 1}}
	world := [3][3]float64{{r[0][0], r[0][1], 0}, {r[1][0], r[1][1], 0}, {r[2][0], r[2][1], focal}}
	proj := [3][3]float64{{focal, 0, cx}, {0, focal, cy}, {0, 0, 1}}
	return mul3x3(proj, mul3x3(world, center))
}

// renderPlane draws the photo through inv (frame → photo coordinates) onto
// dst over a wall of colour wall with a soft vertical light gradient,
// scales brightness by gain and adds sensor noise (σ ≈ 2.5 levels).
func renderPlane(dst, src *vision.RGB, inv [3][3]float64, wall [3]float64, gain float64, rng *rand.Rand) {
	for y := range dst.H {
		shade := 0.85 + 0.3*float64(y)/float64(dst.H)
		for x := range dst.W {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			zw := inv[2][0]*fx + inv[2][1]*fy + inv[2][2]
			u := (inv[0][0]*fx + inv[0][1]*fy + inv[0][2]) / zw
			v := (inv[1][0]*fx + inv[1][1]*fy + inv[1][2]) / zw
			var c [3]float64
			if zw > 0 && u >= 0 && v >= 0 && u < float64(src.W) && v < float64(src.H) {
				c = bilinear(src, u-0.5, v-0.5)
			} else {
				c = [3]float64{wall[0] * shade, wall[1] * shade, wall[2] * shade}
			}
			p := dst.Pix[3*(y*dst.W+x):]
			for k := range 3 {
				p[k] = clampByte(c[k]*gain + 2.5*rng.NormFloat64())
			}
		}
	}
}

func bilinear(src *vision.RGB, x, y float64) [3]float64 {
	x = clamp(x, 0, float64(src.W-1))
	y = clamp(y, 0, float64(src.H-1))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, src.W-1), min(y0+1, src.H-1)
	ax, ay := x-float64(x0), y-float64(y0)
	var c [3]float64
	for k := range 3 {
		p00 := float64(src.Pix[3*(y0*src.W+x0)+k])
		p01 := float64(src.Pix[3*(y0*src.W+x1)+k])
		p10 := float64(src.Pix[3*(y1*src.W+x0)+k])
		p11 := float64(src.Pix[3*(y1*src.W+x1)+k])
		c[k] = (1-ay)*((1-ax)*p00+ax*p01) + ay*((1-ax)*p10+ax*p11)
	}
	return c
}

func clamp(v, lo, hi float64) float64 {
	switch {
	case v < lo:
		return lo
	case v > hi:
		return hi
	}
	return v
}

// boxBlur returns img blurred by a (2r+1)-wide box filter (img itself when
// r is 0).
func boxBlur(img *vision.RGB, r int) *vision.RGB {
	if r <= 0 {
		return img
	}
	tmp, out := vision.NewRGB(img.W, img.H), vision.NewRGB(img.W, img.H)
	pass := func(dst, src *vision.RGB, dx, dy int) {
		for y := range src.H {
			for x := range src.W {
				for k := range 3 {
					var s, n int
					for d := -r; d <= r; d++ {
						xx, yy := x+d*dx, y+d*dy
						if xx >= 0 && yy >= 0 && xx < src.W && yy < src.H {
							s += int(src.Pix[3*(yy*src.W+xx)+k])
							n++
						}
					}
					dst.Pix[3*(y*src.W+x)+k] = uint8((s + n/2) / n)
				}
			}
		}
	}
	pass(tmp, img, 1, 0)
	pass(out, tmp, 0, 1)
	return out
}

func clampByte(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// rgbImage wraps an RGB as an *image.RGBA for encoding.
func rgbImage(m *vision.RGB) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	for i := range m.W * m.H {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}

func mul3x3(a, b [3][3]float64) [3][3]float64 {
	var c [3][3]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

// invert3x3 inverts m by cofactors.
func invert3x3(m [3][3]float64) ([3][3]float64, bool) {
	var inv [3][3]float64
	inv[0][0] = m[1][1]*m[2][2] - m[1][2]*m[2][1]
	inv[0][1] = m[0][2]*m[2][1] - m[0][1]*m[2][2]
	inv[0][2] = m[0][1]*m[1][2] - m[0][2]*m[1][1]
	inv[1][0] = m[1][2]*m[2][0] - m[1][0]*m[2][2]
	inv[1][1] = m[0][0]*m[2][2] - m[0][2]*m[2][0]
	inv[1][2] = m[0][2]*m[1][0] - m[0][0]*m[1][2]
	inv[2][0] = m[1][0]*m[2][1] - m[1][1]*m[2][0]
	inv[2][1] = m[0][1]*m[2][0] - m[0][0]*m[2][1]
	inv[2][2] = m[0][0]*m[1][1] - m[0][1]*m[1][0]
	det := m[0][0]*inv[0][0] + m[0][1]*inv[1][0] + m[0][2]*inv[2][0]
	if math.Abs(det) < 1e-12 {
		return inv, false
	}
	for i := range 3 {
		for j := range 3 {
			inv[i][j] /= det
		}
	}
	return inv, true
}
