package report

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/nnx-dev/nnx/pkg/results"
	"github.com/nnx-dev/nnx/pkg/train"
)

// Plot sizes: 640x400 pixels at 96 dpi (a vg.Length is a point, 1/72 inch);
// the confusion matrix is near square, 560x480.
const (
	PlotDPI          = 96
	plotWidth        = 480 * vg.Inch / 72 // 640 px
	plotHeight       = 300 * vg.Inch / 72 // 400 px
	confusionWidth   = 420 * vg.Inch / 72 // 560 px
	confusionHeight  = 360 * vg.Inch / 72 // 480 px
	bandAlpha        = 0x40               // the min-max bands' opacity
	maxLegendEntries = 12
)

// lineColor is the i-th colour of a fixed, colour-blind-safe palette
// (Okabe and Ito).
func lineColor(i int) color.RGBA {
	palette := [...]color.RGBA{
		{0x00, 0x72, 0xb2, 0xff}, // blue
		{0xd5, 0x5e, 0x00, 0xff}, // vermillion
		{0x00, 0x9e, 0x73, 0xff}, // bluish green
		{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
		{0xe6, 0x9f, 0x00, 0xff}, // orange
		{0x56, 0xb4, 0xe9, 0xff}, // sky blue
		{0x00, 0x00, 0x00, 0xff}, // black
		{0xf0, 0xe4, 0x42, 0xff}, // yellow
	}
	return palette[i%len(palette)]
}

// PNG renders a plot as PNG bytes of w x h points at PlotDPI. Go's PNG
// encoder writes no time or other metadata, and the fonts are the ones
// gonum/plot embeds, so the same plot gives the same bytes.
func PNG(p *plot.Plot, w, h vg.Length) (out []byte, err error) {
	defer func() {
		// gonum/plot panics on some degenerate input; report it as an
		// error rather than crash the whole report.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("drawing %q: %v", p.Title.Text, r)
		}
	}()
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(PlotDPI), vgimg.UseBackgroundColor(color.White))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, c.Image()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newPlot is a plot with nnx's text sizes: readable when a README shows
// it at 640 pixels wide.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 13
	p.Title.Padding = 6
	p.X.Label.Text, p.Y.Label.Text = x, y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = 11
		a.Tick.Label.Font.Size = 10
	}
	p.Legend.TextStyle.Font.Size = 10
	return p
}

// curve is one per-epoch series of a trial: the mean over folds and the
// range the folds span.
type curve struct {
	name           string
	mean, min, max plotter.XYs
	folds          int
}

// foldCurve summarises f(epoch) over the folds, epoch by epoch; a fold that
// stopped early counts only for the epochs it ran. scale multiplies the
// values (100 for percentages).
func foldCurve(name string, folds []train.Fold, f func(train.Epoch) float64, scale float64) curve {
	c := curve{name: name, folds: len(folds)}
	byEpoch := map[int][]float64{}
	var epochs []int
	for _, fold := range folds {
		for _, e := range fold.Epochs {
			v := f(e)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if _, ok := byEpoch[e.Epoch]; !ok {
				epochs = append(epochs, e.Epoch)
			}
			byEpoch[e.Epoch] = append(byEpoch[e.Epoch], v*scale)
		}
	}
	slices.Sort(epochs)
	for _, ep := range epochs {
		vs := byEpoch[ep]
		x := float64(ep)
		c.mean = append(c.mean, plotter.XY{X: x, Y: results.NewStat(vs).Mean})
		c.min = append(c.min, plotter.XY{X: x, Y: slices.Min(vs)})
		c.max = append(c.max, plotter.XY{X: x, Y: slices.Max(vs)})
	}
	return c
}

// curvePlot draws curves as mean lines over shaded min-max bands.
func curvePlot(title, ylabel string, cs []curve, legendTop bool) (*plot.Plot, error) {
	p := newPlot(title, "Epoch", ylabel)
	p.Add(plotter.NewGrid())
	p.Legend.Top = legendTop
	p.Legend.Left = false
	var band *plotter.Polygon
	for i, c := range cs {
		if len(c.mean) == 0 {
			continue
		}
		col := lineColor(i)
		if c.folds > 1 {
			ring := append(slices.Clone(c.min), reversed(c.max)...)
			poly, err := plotter.NewPolygon(ring)
			if err != nil {
				return nil, err
			}
			poly.Color = color.NRGBA{col.R, col.G, col.B, bandAlpha}
			poly.LineStyle.Width = 0
			p.Add(poly)
			band = poly
		}
	}
	for i, c := range cs {
		if len(c.mean) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(c.mean)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = lineColor(i), vg.Points(1.5)
		s.Color, s.Radius, s.Shape = lineColor(i), vg.Points(1.5), draw.CircleGlyph{}
		name := c.name
		if c.folds > 1 {
			name = fmt.Sprintf("%s (mean of %d folds)", c.name, c.folds)
		}
		p.Add(l, s)
		p.Legend.Add(name, l)
	}
	if band != nil {
		legendBand, err := plotter.NewPolygon(plotter.XYs{{}, {}, {}})
		if err != nil {
			return nil, err
		}
		legendBand.Color = color.NRGBA{0x80, 0x80, 0x80, bandAlpha}
		legendBand.LineStyle.Width = 0
		p.Legend.Add("min–max over folds", legendBand)
	}
	p.X.Tick.Marker = niceTicks{n: 10, whole: true}
	p.Y.Tick.Marker = niceTicks{n: 6}
	return p, nil
}

func reversed(xys plotter.XYs) plotter.XYs {
	out := slices.Clone(xys)
	slices.Reverse(out)
	return out
}

// niceTicks labels about n evenly spaced round values (steps of 1, 2, 2.5
// or 5 times a power of ten); integer ones only when whole is set.
type niceTicks struct {
	n     int
	whole bool
}

// Ticks implements plot.Ticker.
func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / float64(max(t.n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if t.whole {
		step = math.Max(1, math.Round(step))
	}
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step) - 1e-9))
		if v := step * math.Pow(10, float64(decimals)); math.Abs(v-math.Round(v)) > 1e-9 {
			decimals++
		}
	}
	var out []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+1e-9*step; i++ {
		v := i * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return out
}

// LearningPlot draws a trial's training and validation accuracy per epoch:
// the mean over folds, with the folds' min-max range shaded.
func LearningPlot(m *results.Metrics) ([]byte, error) {
	cs := []curve{
		foldCurve("training", m.Folds, func(e train.Epoch) float64 { return e.TrainAccuracy }, 100),
		foldCurve("validation", m.Folds, func(e train.Epoch) float64 { return e.ValAccuracy }, 100),
	}
	p, err := curvePlot("Accuracy per epoch: "+trialName(m), "Accuracy (%)", cs, false)
	if err != nil {
		return nil, err
	}
	return PNG(p, plotWidth, plotHeight)
}

// LossPlot draws a trial's training and validation loss per epoch, like
// LearningPlot.
func LossPlot(m *results.Metrics) ([]byte, error) {
	cs := []curve{
		foldCurve("training", m.Folds, func(e train.Epoch) float64 { return e.TrainLoss }, 1),
		foldCurve("validation", m.Folds, func(e train.Epoch) float64 { return e.ValLoss }, 1),
	}
	p, err := curvePlot("Loss per epoch: "+trialName(m), "Cross-entropy loss", cs, true)
	if err != nil {
		return nil, err
	}
	return PNG(p, plotWidth, plotHeight)
}

// trialName names a trial in a plot title: its swept values, else its id.
func trialName(m *results.Metrics) string {
	if m.Label != "" && m.Label != "base" {
		return m.Label
	}
	return "trial " + m.Trial
}

// hasCurves reports whether a trial has per-epoch metrics to plot.
func hasCurves(m *results.Metrics) bool {
	for _, f := range m.Folds {
		if len(f.Epochs) > 0 {
			return true
		}
	}
	return false
}

// axisName is the last element of a dotted field path: "learning_rate".
func axisName(path string) string { return path[strings.LastIndex(path, ".")+1:] }

// paramText writes a swept value for people: YAML flow lists as "128x128".
func paramText(v string) string {
	if strings.HasPrefix(v, "[") {
		return strings.ReplaceAll(strings.Trim(v, "[]"), ", ", "x")
	}
	return v
}

// paramValue is the trial's value for a swept path, and whether it has one.
func paramValue(m *results.Metrics, path string) (string, bool) {
	for _, p := range m.Params {
		if p.Path == path {
			return p.Value, true
		}
	}
	return "", false
}

// axisValues lists the values the finished trials take on axis, ordered
// numerically when all are numbers, else in grid order.
func axisValues(ms []*results.Metrics, axis string) []string {
	var vs []string
	for _, m := range ms {
		if v, ok := paramValue(m, axis); ok && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	nums := make(map[string]float64, len(vs))
	for _, v := range vs {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return vs
		}
		nums[v] = f
	}
	slices.SortStableFunc(vs, func(a, b string) int {
		switch {
		case nums[a] < nums[b]:
			return -1
		case nums[a] > nums[b]:
			return 1
		}
		return 0
	})
	return vs
}

// HyperparameterPlot draws the finished trials' test accuracy against the
// values of one swept axis, one line per combination of the other axes'
// values. It returns nil when the axis has fewer than two values.
func HyperparameterPlot(ms []*results.Metrics, axes []string, axis string) ([]byte, error) {
	var done []*results.Metrics
	for _, m := range ms {
		if m.Status == results.StatusDone {
			done = append(done, m)
		}
	}
	values := axisValues(done, axis)
	if len(values) < 2 {
		return nil, nil
	}
	type line struct {
		name string
		xys  plotter.XYs
	}
	var lines []*line
	byName := map[string]*line{}
	for _, m := range done {
		v, ok := paramValue(m, axis)
		if !ok {
			continue
		}
		var others []string
		for _, a := range axes {
			if a == axis {
				continue
			}
			if ov, ok := paramValue(m, a); ok {
				others = append(others, axisName(a)+"="+paramText(ov))
			}
		}
		name := strings.Join(others, " ")
		l := byName[name]
		if l == nil {
			l = &line{name: name}
			byName[name] = l
			lines = append(lines, l)
		}
		l.xys = append(l.xys, plotter.XY{X: float64(slices.Index(values, v)), Y: 100 * m.TestAccuracy})
	}
	p := newPlot("Test accuracy against "+axisName(axis), axis, "Test accuracy (%)")
	p.Add(plotter.NewGrid())
	labels := make([]string, len(values))
	for i, v := range values {
		labels[i] = paramText(v)
	}
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.4, float64(len(values))-0.6
	p.Legend.Top, p.Legend.Left = true, false
	for i, l := range lines {
		slices.SortStableFunc(l.xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		ln, s, err := plotter.NewLinePoints(l.xys)
		if err != nil {
			return nil, err
		}
		ln.Color, ln.Width = lineColor(i), vg.Points(1.5)
		s.Color, s.Radius, s.Shape = lineColor(i), vg.Points(3), draw.CircleGlyph{}
		p.Add(ln, s)
		if l.name != "" && i < maxLegendEntries {
			p.Legend.Add(l.name, ln, s)
		}
	}
	// Room above the points for the legend, so it hides none of them.
	entries := min(len(lines), maxLegendEntries)
	if len(lines) == 1 && lines[0].name == "" {
		entries = 0
	}
	p.Y.Min, p.Y.Max = legendRoom(p.Y.Min, p.Y.Max, entries)
	p.Y.Tick.Marker = niceTicks{n: 6}
	return PNG(p, plotWidth, plotHeight)
}

// legendRoom widens a y range [lo, hi] a little below and enough above
// for a top legend of n entries, in a plot about 300 pixels of data high.
func legendRoom(lo, hi float64, n int) (float64, float64) {
	const dataPixels, entryPixels = 300.0, 18.0
	span := math.Max(hi-lo, 1)
	lo -= 0.08 * span
	frac := (float64(n)*entryPixels + 8) / dataPixels
	return lo, (hi - frac*lo) / (1 - frac)
}

// confusionGrid is a confusion matrix ([true][predicted]) as a heat
// map's grid: column c is the predicted label, row r the true one. The
// colour follows log(1+count), so the few errors stay visible beside the
// diagonal's thousands.
type confusionGrid [][]int

// Dims, Z, X and Y implement plotter.GridXYZ.
func (g confusionGrid) Dims() (c, r int)   { return len(g), len(g) }
func (g confusionGrid) Z(c, r int) float64 { return math.Log1p(float64(g[r][c])) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// square reports whether g is a non-empty n x n matrix of counts.
func (g confusionGrid) square() bool {
	for _, row := range g {
		if len(row) != len(g) || slices.ContainsFunc(row, func(v int) bool { return v < 0 }) {
			return false
		}
	}
	return len(g) > 0
}

// blues is a white-to-dark-blue palette for the confusion heat map.
type blues struct{}

// Colors implements palette.Palette.
func (blues) Colors() []color.Color {
	const n = 64
	from, to := [3]float64{0xf7, 0xfb, 0xff}, [3]float64{0x08, 0x30, 0x6b}
	out := make([]color.Color, n)
	for i := range out {
		t := float64(i) / (n - 1)
		var c [3]uint8
		for k := range c {
			c[k] = uint8(math.Round(from[k] + t*(to[k]-from[k])))
		}
		out[i] = color.RGBA{c[0], c[1], c[2], 0xff}
	}
	return out
}

// ConfusionPlot draws a trial's test-set confusion matrix as a heat map
// with the counts in the cells: true digit down, predicted digit across.
// It returns nil when the trial has no square matrix.
func ConfusionPlot(m *results.Metrics) ([]byte, error) {
	g := confusionGrid(m.Confusion)
	if !g.square() {
		return nil, nil
	}
	n := len(g)
	title := fmt.Sprintf("Test set confusion matrix: %s", trialName(m))
	p := newPlot(title, "Predicted digit", "True digit")
	h := plotter.NewHeatMap(g, blues{})
	h.Min = 0
	if h.Max <= h.Min {
		h.Max = h.Min + 1
	}
	p.Add(h)

	var labels plotter.XYLabels
	for r := range n {
		for c := range n {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(c), Y: float64(r)})
			labels.Labels = append(labels.Labels, strconv.Itoa(g[r][c]))
		}
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		st := &l.TextStyle[i]
		st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
		st.Font.Size = vg.Points(9)
		st.Color = color.Black
		r, c := i/n, i%n
		if g.Z(c, r) > 0.55*h.Max {
			st.Color = color.White
		}
	}
	p.Add(l)

	ticks := make([]plot.Tick, n)
	for i := range ticks {
		ticks[i] = plot.Tick{Value: float64(i), Label: strconv.Itoa(i)}
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.ConstantTicks(ticks), plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LinearScale{}}
	p.X.Padding, p.Y.Padding = 0, 0
	return PNG(p, confusionWidth, confusionHeight)
}
