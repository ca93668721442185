package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nnx-dev/nnx/pkg/model"
)

func benchStep(b *testing.B, layers []model.Layer, batch int, opt Options) {
	spec := model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: layers}
	rng := rand.New(rand.NewPCG(1, 1))
	opt.BatchSize = batch
	net, err := New(spec, opt, rng)
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	x := make([]float32, batch*784)
	y := make([]uint8, batch)
	for i := range x {
		x[i] = rng.Float32()
	}
	for i := range y {
		y[i] = uint8(rng.IntN(10))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := net.Step(x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*60000/float64(batch), "s/epoch")
}

// BenchmarkStepMLP times one SGD-momentum step of the seed's MLP
// (784-128-128-10). Speed only: the inputs are random.
func BenchmarkStepMLP(b *testing.B) {
	for _, batch := range []int{32, 50, 128} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			benchStep(b, model.MLP([]int{128, 128}, model.ReLU, 10), batch, Options{LearningRate: 0.05, Momentum: 0.9})
		})
	}
}

// BenchmarkStepCNN times one SGD-momentum step of the seed's CNN.
func BenchmarkStepCNN(b *testing.B) {
	for _, batch := range []int{50, 128} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			benchStep(b, model.SeedCNN(10), batch, Options{LearningRate: 0.01, Momentum: 0.9, Init: "pytorch"})
		})
	}
}
