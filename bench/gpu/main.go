// Command gpu times nnx's training of the seed's MLP or CNN on real MNIST on
// a chosen device, epoch by epoch, as bench/gpu/torch_peer.py times PyTorch
// on the GPU: every epoch trains on all 60,000 training images (shuffled,
// the last partial batch dropped), then evaluates the 10,000 test images.
// bench/gpu/run.sh runs both on a GPU machine; build it with -tags nnxcuda.
//
//	go run -tags nnxcuda ./bench/gpu -device cpu|cuda -model mlp|cnn -batch N -epochs E
//
// It prints one JSON object per line: a "setup" line (device, GPU name and
// driver), then per epoch the training and evaluation seconds, the mean
// training loss and the test accuracy.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/engine"
	"github.com/nnx-dev/nnx/pkg/model"
)

func main() {
	device := flag.String("device", "cuda", "cpu, cuda or auto")
	modelName := flag.String("model", "mlp", "mlp (784-128-128-10) or cnn (the seed's CNN)")
	batch := flag.Int("batch", 50, "training batch size")
	epochs := flag.Int("epochs", 1, "epochs to train")
	seed := flag.Uint64("seed", 1, "seed of the initial weights and the shuffles")
	dataDir := flag.String("data", "", "directory of the four MNIST IDX files (default: $NNX_DATA, then the Go module cache)")
	flag.Parse()
	if err := run(*device, *modelName, *batch, *epochs, *seed, *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "gpu:", err)
		os.Exit(1)
	}
}

func run(device, modelName string, batch, epochs int, seed uint64, dataDir string) error {
	info, note, err := engine.SelectDevice(device)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(os.Stderr, "gpu: "+note)
	}
	var layers []model.Layer
	var lr float64
	switch modelName {
	case "mlp":
		layers, lr = model.MLP([]int{128, 128}, model.ReLU, 10), 0.05
	case "cnn":
		layers, lr = model.SeedCNN(10), 0.01
	default:
		return fmt.Errorf("-model %q: want mlp or cnn", modelName)
	}
	dir, err := dataset.Locate(dataDir, os.Getenv)
	if err != nil {
		return err
	}
	trainSet, testSet, err := dataset.LoadMNIST(dir, 0, 0)
	if err != nil {
		return err
	}
	spec := model.Spec{Input: model.Shape{1, trainSet.Rows, trainSet.Cols}, Classes: trainSet.Classes, Layers: layers}
	net, err := engine.New(spec, engine.Options{BatchSize: batch, Optimizer: "sgd", LearningRate: lr, Momentum: 0.9, Init: "pytorch"},
		rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		return err
	}
	defer net.Close()
	steps := trainSet.Len() / batch
	emit(map[string]any{"kind": "setup", "side": "nnx", "device": info.Device, "name": info.Name, "driver": info.Driver,
		"blas": blasName(info), "model": modelName, "batch": batch, "lr": lr, "steps_per_epoch": steps, "gomaxprocs": runtime.GOMAXPROCS(0),
		"min_macs": os.Getenv("NNX_CUDA_MIN_MACS")})

	shuffle := rand.New(rand.NewPCG(seed, 2))
	order := make([]int, trainSet.Len())
	for i := range order {
		order[i] = i
	}
	feat := trainSet.Features()
	x, y := make([]float32, batch*feat), make([]uint8, batch)
	probs := make([]float32, testSet.Len()*testSet.Classes)
	for epoch := 1; epoch <= epochs; epoch++ {
		t0 := time.Now()
		shuffle.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var lossSum float64
		for s := range steps {
			for b, idx := range order[s*batch : (s+1)*batch] {
				copy(x[b*feat:(b+1)*feat], trainSet.Image(idx))
				y[b] = trainSet.Y[idx]
			}
			loss, _, err := net.Step(x, y)
			if err != nil {
				return fmt.Errorf("epoch %d step %d: %w", epoch, s+1, err)
			}
			lossSum += loss
		}
		trainS := time.Since(t0).Seconds()
		t0 = time.Now()
		if err := net.Predict(testSet.X, probs); err != nil {
			return err
		}
		correct := 0
		for i, c := range testSet.Y {
			if argmax(probs[i*testSet.Classes:(i+1)*testSet.Classes]) == int(c) {
				correct++
			}
		}
		emit(map[string]any{"kind": "epoch", "side": "nnx", "device": info.Device, "model": modelName, "batch": batch, "epoch": epoch,
			"train_s": trainS, "eval_s": time.Since(t0).Seconds(), "train_loss": lossSum / float64(steps),
			"test_acc": 100 * float64(correct) / float64(testSet.Len())})
	}
	return nil
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func argmax(v []float32) int {
	best := 0
	for i, f := range v {
		if f > v[best] {
			best = i
		}
	}
	return best
}

// blasName is the library that multiplies: cuBLAS on the GPU, else the
// build's CPU BLAS.
func blasName(info engine.DeviceInfo) string {
	if info.Device == "cuda" {
		return "cublas"
	}
	return engine.BLAS
}
