package plot

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// countColour counts the pixels of img's rectangle r that have colour c.
func countColour(t *testing.T, c *Chart, col color.RGBA, x0, y0, x1, y1 int) int {
	t.Helper()
	img, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			if img.RGBAAt(x, y) == col {
				n++
			}
		}
	}
	return n
}

func TestRenderDrawsSeriesWhereTheyBelong(t *testing.T) {
	t.Parallel()
	red := Palette[1]
	// A horizontal line at y = 0.75 across a linear 0-1 chart.
	c := &Chart{
		Title: "t", X: Axis{Label: "x", Min: 0, Max: 1}, Y: Axis{Label: "y", Min: 0, Max: 1},
		Series: []Series{{X: []float64{0, 1}, Y: []float64{0.75, 0.75}, Color: red}},
	}
	// Plot area: y from 30 (value 1) to 430 (value 0); 0.75 is at y=130.
	if n := countColour(t, c, red, marginLeft+1, 127, 640-marginRight-1, 133); n < 500 {
		t.Errorf("%d red pixels around the line, want a two-pixel line across the chart", n)
	}
	if n := countColour(t, c, red, marginLeft+1, 200, 640-marginRight-1, 420); n != 0 {
		t.Errorf("%d red pixels away from the line", n)
	}
}

func TestLogAxesSkipNonPositiveAndClip(t *testing.T) {
	t.Parallel()
	blue := Palette[0]
	c := &Chart{
		X: Axis{Min: 1e-4, Max: 1, Log: true}, Y: Axis{Min: 0, Max: 1},
		// (0, 0.5) cannot be shown on a log axis; (1e-6, 0.5) is left of
		// the axis and is clipped; (1e-2, 0.5)-(1, 0.5) is drawn.
		Series: []Series{{X: []float64{0, 1e-6, 1e-2, 1}, Y: []float64{0.5, 0.5, 0.5, 0.5}, Color: blue}},
	}
	// 1e-2 lies halfway along the log axis.
	mid := marginLeft + (640-marginLeft-marginRight)/2
	if n := countColour(t, c, blue, mid+5, 220, 640-marginRight-1, 240); n < 200 {
		t.Errorf("%d blue pixels right of 1e-2, want the line", n)
	}
	if n := countColour(t, c, blue, 0, 0, marginLeft, 480); n != 0 {
		t.Errorf("%d blue pixels outside the plot area", n)
	}
}

func TestTicks(t *testing.T) {
	t.Parallel()
	if got, want := ticks(Axis{Min: 1e-6, Max: 1, Log: true}), []float64{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}; !close(got, want) {
		t.Errorf("log ticks = %v, want %v", got, want)
	}
	if got, want := ticks(Axis{Min: 0, Max: 100}), []float64{0, 20, 40, 60, 80, 100}; !close(got, want) {
		t.Errorf("linear ticks = %v, want %v", got, want)
	}
	if got := ticks(Axis{Min: -1, Max: 1}); len(got) < 4 || len(got) > 11 {
		t.Errorf("ticks over [-1, 1] = %v, want 4-11 ticks", got)
	}
}

func close(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)) })
}

func TestBadAxes(t *testing.T) {
	t.Parallel()
	for _, c := range []*Chart{
		{X: Axis{Min: 1, Max: 1}, Y: Axis{Min: 0, Max: 1}},
		{X: Axis{Min: 0, Max: 1, Log: true}, Y: Axis{Min: 0, Max: 1}},
		{X: Axis{Min: 0, Max: 1}, Y: Axis{Min: 0, Max: 1}, Width: 60, Height: 60},
	} {
		if _, err := c.Render(); err == nil {
			t.Errorf("Render(%+v) succeeded, want an error", c)
		}
	}
}

func TestWritePNG(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "roc.png")
	c := &Chart{
		Title: "ROC", X: Axis{Label: "FAR", Min: 1e-5, Max: 1, Log: true}, Y: Axis{Label: "TAR", Min: 0.8, Max: 1},
		Series: []Series{
			{Name: "a", X: []float64{1e-5, 1e-3, 1}, Y: []float64{0.9, 0.97, 1}, Color: Palette[0]},
			{Name: "b", X: []float64{1e-5, 1}, Y: []float64{0.85, 1}, Color: Palette[1], Steps: true, Dashed: true},
		},
		Width: 500, Height: 400,
	}
	if err := c.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 500 || b.Dy() != 400 {
		t.Errorf("PNG is %v, want 500x400", b)
	}
}
