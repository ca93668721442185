package serve_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/nnx-dev/nnx/pkg/bundle/bundletest"
	"github.com/nnx-dev/nnx/pkg/predict"
	"github.com/nnx-dev/nnx/pkg/serve"
)

// chromium is Debian's headless browser, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// pageState is what the page shows and what it sent, read back from it.
type pageState struct {
	Digit      string      `json:"digit"`
	Confidence string      `json:"confidence"`
	Pcts       []string    `json:"pcts"`
	Sent       [][]float64 `json:"sent"`
	Requests   int         `json:"requests"`
	Error      string      `json:"error"`
}

const readPage = `({
	digit: document.getElementById("digit").textContent,
	confidence: document.getElementById("confidence").textContent,
	pcts: [...document.querySelectorAll("#probs .pct")].map(e => e.textContent),
	sent: nnx.sent,
	requests: nnx.requests,
	error: document.getElementById("error").textContent,
})`

// TestBrowserDrawsAndPredicts opens the page in headless Chromium, draws a
// stroke with the mouse and another with a finger, and checks that the
// page shows the prediction the model makes for the grid it sent.
func TestBrowserDrawsAndPredicts(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not found: install Debian's chromium (.ci/run does) to run the browser test", chromium)
	}
	mlp := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200)
	_, url := start(t, serve.Options{}, mlp)
	model, err := predict.New(mlp.Spec, mlp.Bundle.Weights)
	if err != nil {
		t.Fatal(err)
	}

	profile, err := os.MkdirTemp("", "nnx-chromium")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Chromium's children may still write there for a moment after it exits.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(900, 700))
	parent, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alloc, cancel := chromedp.NewExecAllocator(parent, opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1"`, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	rect, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ X, Y, W, H float64 }](
		`(() => { const r = document.getElementById("pad").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	// at maps a point of the 28x28 grid to page coordinates.
	at := func(gx, gy float64) (float64, float64) { return rect.X + gx/28*rect.W, rect.Y + gy/28*rect.H }

	// A vertical mouse stroke down the middle: a "1".
	var steps []chromedp.Action[chromedp.Void]
	x, y := at(14, 5)
	steps = append(steps, chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft))
	for i := 1; i <= 20; i++ {
		x, y = at(14, 5+float64(i)*0.9)
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x, y, chromedp.ButtonLeft))
	}
	steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft))
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("drawing: %v", err)
	}
	st := settle(t, ctx, 1)
	check(t, "mouse stroke", st, model)
	col := 0.0
	for _, row := range st.Sent {
		col += row[13] + row[14] + row[15]
	}
	if col < 0.5*total(st.Sent) {
		t.Errorf("the ink of a vertical stroke is not in the middle columns of the sent grid:\n%s", picture(st.Sent))
	}

	// Clear, then a horizontal stroke with a finger.
	touch := func(typ input.DispatchTouchEventType, gx, gy float64) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			pts := []*input.TouchPoint{}
			if typ != input.DispatchTouchEventTypeTouchEnd {
				px, py := at(gx, gy)
				pts = append(pts, &input.TouchPoint{X: px, Y: py})
			}
			_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts})
			return err
		})
	}
	steps = []chromedp.Action[chromedp.Void]{
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 1})
			return err
		}),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("clear").click()`),
		touch(input.DispatchTouchEventTypeTouchStart, 5, 14),
	}
	for i := 1; i <= 18; i++ {
		steps = append(steps, touch(input.DispatchTouchEventTypeTouchMove, 5+float64(i), 14))
	}
	steps = append(steps, touch(input.DispatchTouchEventTypeTouchEnd, 0, 0))
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("touch drawing: %v", err)
	}
	st = settle(t, ctx, st.Requests+1)
	check(t, "touch stroke", st, model)
	mid := 0.0
	for _, row := range st.Sent[12:16] {
		for _, v := range row {
			mid += v
		}
	}
	if mid < 0.5*total(st.Sent) {
		t.Errorf("the ink of a horizontal stroke is not in the middle rows of the sent grid:\n%s", picture(st.Sent))
	}
}

// settle waits until the page has no request in flight and has shown at
// least min answers, then reads it.
func settle(t *testing.T, ctx context.Context, min int) pageState {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`nnx.pending === 0 && nnx.requests >= %d`, min), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
		t.Fatalf("no prediction shown: %v (page: %+v)", err, st)
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// check compares what the page shows with the model's own prediction for
// the grid the page sent.
func check(t *testing.T, what string, st pageState, m *predict.Model) {
	t.Helper()
	if st.Error != "" || len(st.Sent) != 28 {
		t.Fatalf("%s: error %q, sent %d rows", what, st.Error, len(st.Sent))
	}
	if total(st.Sent) == 0 {
		t.Fatalf("%s: the page sent an empty grid", what)
	}
	x := make([]float32, 0, 784)
	for _, row := range st.Sent {
		for _, v := range row {
			x = append(x, float32(v)/255)
		}
	}
	probs := make([]float32, 10)
	if err := m.Predict(x, probs); err != nil {
		t.Fatal(err)
	}
	top, conf := predict.Top(probs)
	if st.Digit != strconv.Itoa(top) {
		t.Errorf("%s: the page shows %q, the model predicts %d for the grid it sent:\n%s", what, st.Digit, top, picture(st.Sent))
	}
	if want := fmt.Sprintf("confidence %.1f%%", 100*conf); st.Confidence != want {
		t.Errorf("%s: the page shows %q, want %q", what, st.Confidence, want)
	}
	if len(st.Pcts) != 10 {
		t.Fatalf("%s: %d probabilities shown, want 10", what, len(st.Pcts))
	}
	for c, p := range st.Pcts {
		if want := fmt.Sprintf("%.1f%%", 100*probs[c]); p != want {
			t.Errorf("%s: class %d shows %s, want %s", what, c, p, want)
		}
	}
	t.Logf("%s: the page shows %s (%s)", what, st.Digit, st.Confidence)
}

func total(grid [][]float64) float64 {
	s := 0.0
	for _, row := range grid {
		for _, v := range row {
			s += v
		}
	}
	return s
}

// picture draws a grid in text, for failure messages.
func picture(grid [][]float64) string {
	var sb strings.Builder
	for _, row := range grid {
		for _, v := range row {
			switch {
			case v > 170:
				sb.WriteByte('#')
			case v > 60:
				sb.WriteByte('+')
			case v > 0:
				sb.WriteByte('.')
			default:
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
