// Package plot draws the small charts of everify's evaluation reports (ROC
// and DET curves, score histograms) as PNG images, with the standard
// library and the fixed-size bitmap font of golang.org/x/image. It knows
// line charts only: a histogram is a line chart whose series are steps.
package plot

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Axis is one axis of a Chart.
type Axis struct {
	Label string
	// Min and Max bound the axis; both must be positive on a Log axis.
	Min, Max float64
	// Log spaces the axis logarithmically, with a tick at every power of
	// ten.
	Log bool
}

// Series is one line of a Chart: points (X[i], Y[i]) joined in order.
// Points outside the axes are clipped; on a Log axis, points at or below
// zero are skipped.
type Series struct {
	Name  string
	X, Y  []float64
	Color color.RGBA
	// Steps draws the line as a staircase (horizontal, then vertical), the
	// way a histogram's bins are drawn.
	Steps bool
	// Dashed draws a dashed line (reference lines, thresholds).
	Dashed bool
}

// Chart is a line chart.
type Chart struct {
	Title  string
	X, Y   Axis
	Series []Series
	// Width and Height are the image size in pixels (default 640x480).
	Width, Height int
}

// Palette holds distinguishable series colours.
var Palette = []color.RGBA{
	{31, 119, 180, 255},  // blue
	{214, 39, 40, 255},   // red
	{44, 160, 44, 255},   // green
	{255, 127, 14, 255},  // orange
	{148, 103, 189, 255}, // purple
	{127, 127, 127, 255}, // grey
}

// Grey is the colour of reference lines.
var Grey = color.RGBA{150, 150, 150, 255}

var (
	black     = color.RGBA{0, 0, 0, 255}
	gridColor = color.RGBA{228, 228, 228, 255}
	face      = basicfont.Face7x13
)

// Margins around the plot area, in pixels.
const (
	marginLeft   = 70
	marginRight  = 20
	marginTop    = 30
	marginBottom = 50
)

// Render draws the chart.
func (c *Chart) Render() (*image.RGBA, error) {
	w, h := c.Width, c.Height
	if w <= 0 || h <= 0 {
		w, h = 640, 480
	}
	for _, a := range []Axis{c.X, c.Y} {
		if !(a.Max > a.Min) || (a.Log && a.Min <= 0) {
			return nil, fmt.Errorf("plot: axis %q: bad range [%g, %g]", a.Label, a.Min, a.Max)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.White, image.Point{}, draw.Src)
	area := image.Rect(marginLeft, marginTop, w-marginRight, h-marginBottom)
	if area.Dx() < 50 || area.Dy() < 50 {
		return nil, fmt.Errorf("plot: %dx%d is too small for a chart", w, h)
	}
	px := scaler(c.X, float64(area.Min.X), float64(area.Max.X))
	py := scaler(c.Y, float64(area.Max.Y), float64(area.Min.Y))

	// Grid and tick labels.
	for _, t := range ticks(c.X) {
		x := int(math.Round(px(t)))
		vline(img, x, area.Min.Y, area.Max.Y, gridColor)
		s := tickLabel(c.X, t)
		text(img, x-textWidth(s)/2, area.Max.Y+16, s, black)
	}
	for _, t := range ticks(c.Y) {
		y := int(math.Round(py(t)))
		hline(img, area.Min.X, area.Max.X, y, gridColor)
		s := tickLabel(c.Y, t)
		text(img, area.Min.X-6-textWidth(s), y+4, s, black)
	}
	// Frame, title and axis labels.
	hline(img, area.Min.X, area.Max.X, area.Min.Y, black)
	hline(img, area.Min.X, area.Max.X, area.Max.Y, black)
	vline(img, area.Min.X, area.Min.Y, area.Max.Y, black)
	vline(img, area.Max.X, area.Min.Y, area.Max.Y, black)
	text(img, (w-textWidth(c.Title))/2, 18, c.Title, black)
	text(img, area.Min.X+(area.Dx()-textWidth(c.X.Label))/2, h-12, c.X.Label, black)
	verticalText(img, 6, area.Min.Y+(area.Dy()+textWidth(c.Y.Label))/2, c.Y.Label, black)

	// Series, clipped to the plot area.
	clip := img.SubImage(area).(*image.RGBA)
	for _, s := range c.Series {
		drawSeries(clip, s, c.X, c.Y, px, py)
	}
	// Legend, top left inside the plot area.
	ly := area.Min.Y + 8
	for _, s := range c.Series {
		if s.Name == "" {
			continue
		}
		lx := area.Min.X + 10
		for x := lx; x < lx+24; x++ {
			if !s.Dashed || (x-lx)%8 < 5 {
				thickDot(img, x, ly, s.Color)
			}
		}
		text(img, lx+30, ly+4, s.Name, black)
		ly += 16
	}
	return img, nil
}

// WritePNG renders the chart into a PNG file.
func (c *Chart) WritePNG(path string) error {
	img, err := c.Render()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := png.Encode(bw, img); err != nil {
		f.Close()
		return fmt.Errorf("plot: writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("plot: writing %s: %w", path, err)
	}
	return f.Close()
}

// scaler maps axis values to pixel positions, lo and hi being the pixels of
// a.Min and a.Max.
func scaler(a Axis, lo, hi float64) func(float64) float64 {
	if a.Log {
		l0, l1 := math.Log10(a.Min), math.Log10(a.Max)
		return func(v float64) float64 { return lo + (math.Log10(v)-l0)/(l1-l0)*(hi-lo) }
	}
	return func(v float64) float64 { return lo + (v-a.Min)/(a.Max-a.Min)*(hi-lo) }
}

// ticks returns the tick positions of an axis: powers of ten on a Log
// axis, else 1, 2 or 5 times a power of ten apart, about five to ten of
// them.
func ticks(a Axis) []float64 {
	var out []float64
	if a.Log {
		for e := math.Ceil(math.Log10(a.Min) - 1e-9); e <= math.Log10(a.Max)+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	span := a.Max - a.Min
	base := math.Pow(10, math.Floor(math.Log10(span)))
	step := base / 10
	for _, m := range []float64{1, 0.5, 0.2} {
		if span/(base*m) >= 4 {
			step = base * m
			break
		}
	}
	for k := math.Ceil(a.Min/step - 1e-9); k*step <= a.Max+step*1e-9; k++ {
		out = append(out, k*step+0) // +0 turns -0 into 0
	}
	return out
}

// tickLabel formats a tick value.
func tickLabel(a Axis, v float64) string {
	if a.Log {
		e := int(math.Round(math.Log10(v)))
		if e >= -2 && e <= 2 {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return fmt.Sprintf("1e%d", e)
	}
	if math.Abs(v) < 1e-12 {
		v = 0
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// drawSeries draws s through the scalers into img (already clipped to the
// plot area).
func drawSeries(img *image.RGBA, s Series, xa, ya Axis, px, py func(float64) float64) {
	valid := func(i int) bool {
		x, y := s.X[i], s.Y[i]
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			return false
		}
		return (!xa.Log || x > 0) && (!ya.Log || y > 0)
	}
	n := min(len(s.X), len(s.Y))
	dash := 0.0
	prev := -1
	for i := 0; i < n; i++ {
		if !valid(i) {
			prev = -1
			continue
		}
		if prev >= 0 {
			x0, y0 := px(s.X[prev]), py(s.Y[prev])
			x1, y1 := px(s.X[i]), py(s.Y[i])
			if s.Steps {
				dash = segment(img, x0, y0, x1, y0, s.Color, s.Dashed, dash)
				dash = segment(img, x1, y0, x1, y1, s.Color, s.Dashed, dash)
			} else {
				dash = segment(img, x0, y0, x1, y1, s.Color, s.Dashed, dash)
			}
		}
		prev = i
	}
}

// maxSegmentSteps bounds the dots stamped for one segment, so that points
// far outside the plot area cost nothing much.
const maxSegmentSteps = 4096

// segment draws a two-pixel-wide line from (x0, y0) to (x1, y1); dash is
// the distance drawn so far along a dashed series, which it returns
// advanced.
func segment(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA, dashed bool, dash float64) float64 {
	// Clip the segment roughly to the image, with slack for thickness.
	b := img.Rect
	if math.Max(x0, x1) < float64(b.Min.X)-2 || math.Min(x0, x1) > float64(b.Max.X)+2 ||
		math.Max(y0, y1) < float64(b.Min.Y)-2 || math.Min(y0, y1) > float64(b.Max.Y)+2 {
		return dash + math.Hypot(x1-x0, y1-y0)
	}
	length := math.Hypot(x1-x0, y1-y0)
	steps := int(math.Min(math.Ceil(length*2), maxSegmentSteps))
	for k := 0; k <= steps; k++ {
		t := 0.0
		if steps > 0 {
			t = float64(k) / float64(steps)
		}
		if dashed && math.Mod(dash+t*length, 10) >= 6 {
			continue
		}
		thickDot(img, int(math.Round(x0+t*(x1-x0))), int(math.Round(y0+t*(y1-y0))), c)
	}
	return dash + length
}

// thickDot sets a 2x2 block of pixels.
func thickDot(img *image.RGBA, x, y int, c color.RGBA) {
	for dy := 0; dy < 2; dy++ {
		for dx := 0; dx < 2; dx++ {
			if p := image.Pt(x+dx-1, y+dy-1); p.In(img.Rect) {
				img.SetRGBA(p.X, p.Y, c)
			}
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		if image.Pt(x, y).In(img.Rect) {
			img.SetRGBA(x, y, c)
		}
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		if image.Pt(x, y).In(img.Rect) {
			img.SetRGBA(x, y, c)
		}
	}
}

// textWidth is the width of s in pixels in the chart's font.
func textWidth(s string) int {
	return font.MeasureString(face, s).Round()
}

// text draws s with its baseline starting at (x, y).
func text(img draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// verticalText draws s reading upwards, its top-left corner (before the
// turn) at the left edge x and its start at baseline position y.
func verticalText(img *image.RGBA, x, y int, s string, c color.Color) {
	w := textWidth(s)
	h := face.Height
	tmp := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(tmp, tmp.Rect, image.Transparent, image.Point{}, draw.Src)
	text(tmp, 0, face.Ascent, s, c)
	// Turn a quarter counter-clockwise: (tx, ty) goes to (ty, w-1-tx).
	for ty := 0; ty < h; ty++ {
		for tx := 0; tx < w; tx++ {
			p := tmp.RGBAAt(tx, ty)
			if p.A == 0 {
				continue
			}
			q := image.Pt(x+ty, y-w+1+(w-1-tx))
			if q.In(img.Rect) {
				img.SetRGBA(q.X, q.Y, blend(img.RGBAAt(q.X, q.Y), p))
			}
		}
	}
}

// blend composites premultiplied src over dst.
func blend(dst, src color.RGBA) color.RGBA {
	a := 255 - uint32(src.A)
	return color.RGBA{
		R: uint8(uint32(src.R) + uint32(dst.R)*a/255),
		G: uint8(uint32(src.G) + uint32(dst.G)*a/255),
		B: uint8(uint32(src.B) + uint32(dst.B)*a/255),
		A: 255,
	}
}
