package predict_test

import (
	"math"
	"sync"
	"testing"

	"github.com/nnx-dev/nnx/pkg/bundle/bundletest"
	"github.com/nnx-dev/nnx/pkg/model"
	"github.com/nnx-dev/nnx/pkg/predict"
)

// tolerance is the largest difference allowed between a probability here
// and the engine's.
const tolerance = 1e-5

// compare runs m on tr's test images and checks every probability against
// the engine's.
func compare(t *testing.T, m *predict.Model, tr *bundletest.Trained) {
	t.Helper()
	probs := make([]float32, len(tr.Probs))
	if err := m.Predict(tr.Test.X, probs); err != nil {
		t.Fatal(err)
	}
	worst, agree := 0.0, 0
	for i := range tr.Test.Len() {
		got, want := probs[i*10:(i+1)*10], tr.Probs[i*10:(i+1)*10]
		for c := range got {
			worst = max(worst, math.Abs(float64(got[c]-want[c])))
		}
		g, _ := predict.Top(got)
		w, _ := predict.Top(want)
		if g != w {
			t.Errorf("image %d: predicted %d, the engine %d", i, g, w)
		}
		if w == int(tr.Test.Y[i]) {
			agree++
		}
	}
	if worst > tolerance {
		t.Errorf("largest probability difference from the engine %.3g, want <= %g", worst, tolerance)
	}
	t.Logf("%d test images: largest difference %.3g; engine accuracy %d%%", tr.Test.Len(), worst, agree)
	if agree < 60 {
		t.Errorf("the engine's net gets only %d of %d test images right: the comparison is not exercising a trained net", agree, tr.Test.Len())
	}
}

func load(t testing.TB, tr *bundletest.Trained) *predict.Model {
	m, err := predict.New(tr.Spec, tr.Bundle.Weights)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatchesEngineMLP(t *testing.T) {
	tr := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200)
	compare(t, load(t, tr), tr)
}

// TestMatchesEngineCNN checks the seed CNN, with trained batch-norm
// statistics, against the engine's evaluation graph.
func TestMatchesEngineCNN(t *testing.T) {
	tr := bundletest.Train(t, "cnn", bundletest.CNNSpec(), 40)
	for _, w := range tr.Bundle.Weights {
		if w.Name == "batchnorm0.running_var" && w.Data[0] == 1 {
			t.Fatal("batch-norm statistics are still their initial values")
		}
	}
	compare(t, load(t, tr), tr)
}

// TestMatchesEngineLayers covers what the seed CNN does not: padding,
// strides, overlapping pools, batch norm on flat inputs, dropout, tanh and
// sigmoid.
func TestMatchesEngineLayers(t *testing.T) {
	spec := model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: []model.Layer{
		{Kind: model.Conv2D, Filters: 6, Kernel: 3, Padding: 1},
		{Kind: model.BatchNorm},
		{Kind: model.Tanh},
		{Kind: model.Conv2D, Filters: 8, Kernel: 4, Stride: 2, Padding: 2},
		{Kind: model.ReLU},
		{Kind: model.MaxPool2D, Kernel: 3, Stride: 2},
		{Kind: model.Dropout, Rate: 0.3},
		{Kind: model.Flatten},
		{Kind: model.Dense, Units: 40},
		{Kind: model.BatchNorm},
		{Kind: model.Sigmoid},
		{Kind: model.Dense, Units: 10},
	}}
	tr := bundletest.Train(t, "layers", spec, 60)
	compare(t, load(t, tr), tr)
}

// TestConcurrent predicts from many goroutines at once, one image at a
// time and in batches: every answer equals the sequential one.
func TestConcurrent(t *testing.T) {
	tr := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 20)
	m := load(t, tr)
	want := make([]float32, len(tr.Probs))
	if err := m.Predict(tr.Test.X, want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for rep := range 5 {
				if (g+rep)%2 == 0 {
					got := make([]float32, len(want))
					if err := m.Predict(tr.Test.X, got); err != nil {
						errs <- err.Error()
						return
					}
					for i := range got {
						if got[i] != want[i] {
							errs <- "a concurrent batch differs"
							return
						}
					}
					continue
				}
				got := make([]float32, 10)
				for i := range tr.Test.Len() {
					if err := m.Predict(tr.Test.Image(i), got); err != nil {
						errs <- err.Error()
						return
					}
					for c := range got {
						if got[c] != want[i*10+c] {
							errs <- "a concurrent single prediction differs"
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestNoAllocations(t *testing.T) {
	tr := bundletest.Train(t, "cnn", bundletest.CNNSpec(), 2)
	m := load(t, tr)
	probs := make([]float32, 10)
	x := tr.Test.Image(0)
	m.Predict(x, probs) // fill the pool
	if n := testing.AllocsPerRun(100, func() { m.Predict(x, probs) }); n > 0 {
		t.Errorf("%v allocations per prediction, want 0", n)
	}
}

func TestErrors(t *testing.T) {
	tr := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 1)
	m := load(t, tr)
	if err := m.Predict(make([]float32, 783), make([]float32, 10)); err == nil {
		t.Error("783 values: no error")
	}
	if err := m.Predict(make([]float32, 784*2), make([]float32, 10)); err == nil {
		t.Error("two examples, room for one: no error")
	}
	ws := tr.Bundle.Weights
	if _, err := predict.New(tr.Spec, ws[1:]); err == nil {
		t.Error("a missing tensor: no error")
	}
	short := append([]model.Tensor(nil), ws...)
	short[0].Data = short[0].Data[:5]
	if _, err := predict.New(tr.Spec, short); err == nil {
		t.Error("a short tensor: no error")
	}
}

func benchmark(b *testing.B, spec model.Spec) {
	tr := bundletest.Train(b, "bench", spec, 2)
	m := load(b, tr)
	probs := make([]float32, 10)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Predict(tr.Test.Image(i%tr.Test.Len()), probs)
	}
}

func BenchmarkMLP(b *testing.B) {
	benchmark(b, model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: model.MLP([]int{128, 128}, model.ReLU, 10)})
}

func BenchmarkCNN(b *testing.B) { benchmark(b, bundletest.CNNSpec()) }
