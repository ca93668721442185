// Command train times nnx's training of the seed's MLP or CNN on real MNIST,
// epoch by epoch, the way bench/train/torch_peer.py times PyTorch: every
// epoch trains on all 60,000 training images (shuffled, the last partial
// batch dropped), then evaluates on the 10,000 test images. Training and
// evaluation are timed apart. bench/train.sh runs both sides and compares.
//
//	go run ./bench/train -model mlp|cnn -batch N -epochs E [-json]
//
// Output, one line per epoch (a JSON object with -json): training seconds,
// evaluation seconds, mean training loss, test accuracy and the process's
// peak resident memory so far (VmHWM from /proc/self/status).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/engine"
	"github.com/nnx-dev/nnx/pkg/model"
)

// setupLine describes a run before its first epoch.
type setupLine struct {
	Kind       string  `json:"kind"` // "setup"
	Side       string  `json:"side"` // "nnx", or "nnx-TAGS" for a build with tags
	Model      string  `json:"model"`
	Batch      int     `json:"batch"`
	Epochs     int     `json:"epochs"`
	LR         float64 `json:"lr"`
	Momentum   float64 `json:"momentum"`
	Seed       uint64  `json:"seed"`
	Threads    int     `json:"threads"` // GOMAXPROCS
	Tags       string  `json:"tags"`    // build tags, from the binary's build info
	DataDir    string  `json:"data_dir"`
	Train      int     `json:"train_examples"`
	Test       int     `json:"test_examples"`
	StepsEpoch int     `json:"steps_per_epoch"`
	LoadS      float64 `json:"load_s"`  // reading and decoding MNIST
	BuildS     float64 `json:"build_s"` // engine.New: init and the training graph
	RSSMB      float64 `json:"peak_rss_mb"`
	Device     string  `json:"device"`           // cpu or cuda
	DeviceName string  `json:"device_name"`      // CPU model or GPU name
	Driver     string  `json:"driver,omitempty"` // GPU driver and CUDA versions
}

// epochLine is one epoch's figures.
type epochLine struct {
	Kind      string  `json:"kind"` // "epoch"
	Side      string  `json:"side"`
	Model     string  `json:"model"`
	Batch     int     `json:"batch"`
	Epoch     int     `json:"epoch"`
	TrainS    float64 `json:"train_s"`
	EvalS     float64 `json:"eval_s"`
	TrainLoss float64 `json:"train_loss"`
	TestAcc   float64 `json:"test_acc"` // percent
	PeakRSSMB float64 `json:"peak_rss_mb"`
	RSSMB     float64 `json:"rss_mb"`     // VmRSS now
	HeapMB    float64 `json:"go_heap_mb"` // Go heap in use after the epoch
}

func main() {
	device := flag.String("device", "cpu", "cpu, cuda (a build with -tags nnxcuda) or auto")
	modelName := flag.String("model", "mlp", "mlp (784-128-128-10) or cnn (the seed's CNN)")
	batch := flag.Int("batch", 50, "training batch size")
	epochs := flag.Int("epochs", 1, "epochs to train")
	lr := flag.Float64("lr", 0, "learning rate (0: 0.05 for mlp, 0.01 for cnn)")
	seed := flag.Uint64("seed", 1, "seed of the initial weights and the shuffles")
	dataDir := flag.String("data", "", "directory of the four MNIST IDX files (default: dataset.Locate: $NNX_DATA, then the Go module cache)")
	evalBatch := flag.Int("eval-batch", 1000, "examples per evaluation pass")
	asJSON := flag.Bool("json", false, "print JSON lines")
	printData := flag.Bool("print-data-dir", false, "print the MNIST directory this program reads and exit")
	flag.Parse()
	if err := run(*device, *modelName, *batch, *epochs, *lr, *seed, *dataDir, *evalBatch, *asJSON, *printData); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(device, modelName string, batch, epochs int, lr float64, seed uint64, dataDir string, evalBatch int, asJSON, printData bool) error {
	dir, err := dataset.Locate(dataDir, os.Getenv)
	if err != nil {
		return err
	}
	if printData {
		fmt.Println(dir)
		return nil
	}
	info, note, err := engine.SelectDevice(device)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(os.Stderr, "train: "+note)
	}
	var layers []model.Layer
	switch modelName {
	case "mlp":
		layers = model.MLP([]int{128, 128}, model.ReLU, 10)
		if lr == 0 {
			lr = 0.05
		}
	case "cnn":
		layers = model.SeedCNN(10)
		if lr == 0 {
			lr = 0.01
		}
	default:
		return fmt.Errorf("-model %q: want mlp or cnn", modelName)
	}
	if batch < 1 || epochs < 1 {
		return fmt.Errorf("-batch and -epochs must be at least 1")
	}

	t0 := time.Now()
	trainSet, testSet, err := dataset.LoadMNIST(dir, 0, 0)
	if err != nil {
		return err
	}
	loadS := time.Since(t0).Seconds()

	spec := model.Spec{Input: model.Shape{1, trainSet.Rows, trainSet.Cols}, Classes: trainSet.Classes, Layers: layers}
	const momentum = 0.9
	t0 = time.Now()
	net, err := engine.New(spec, engine.Options{
		BatchSize: batch, EvalBatch: evalBatch, Optimizer: "sgd",
		LearningRate: lr, Momentum: momentum, Init: "pytorch",
	}, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		return err
	}
	defer net.Close()
	buildS := time.Since(t0).Seconds()

	feat := trainSet.Features()
	steps := trainSet.Len() / batch // the last partial batch is dropped
	if steps == 0 {
		return fmt.Errorf("batch %d is larger than the %d training images", batch, trainSet.Len())
	}
	side := "nnx"
	if t := buildTags(); t != "" {
		side += "-" + strings.ReplaceAll(t, ",", "-")
	}
	emit := printer(asJSON)
	emit(setupLine{Kind: "setup", Side: side, Model: modelName, Batch: batch, Epochs: epochs, LR: lr, Momentum: momentum,
		Seed: seed, Threads: runtime.GOMAXPROCS(0), Tags: buildTags(), DataDir: dir, Train: trainSet.Len(), Test: testSet.Len(),
		StepsEpoch: steps, LoadS: loadS, BuildS: buildS, RSSMB: procStatusMB("VmHWM"),
		Device: info.Device, DeviceName: info.Name, Driver: info.Driver})

	shuffle := rand.New(rand.NewPCG(seed, 2))
	order := make([]int, trainSet.Len())
	for i := range order {
		order[i] = i
	}
	x := make([]float32, batch*feat)
	y := make([]uint8, batch)
	probs := make([]float32, testSet.Len()*testSet.Classes)
	var ms runtime.MemStats
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
		evalS := time.Since(t0).Seconds()
		runtime.GC() // as pkg/train does after every epoch: keeps the peak flat

		runtime.ReadMemStats(&ms)
		emit(epochLine{Kind: "epoch", Side: side, Model: modelName, Batch: batch, Epoch: epoch,
			TrainS: trainS, EvalS: evalS, TrainLoss: lossSum / float64(steps),
			TestAcc:   100 * float64(correct) / float64(testSet.Len()),
			PeakRSSMB: procStatusMB("VmHWM"), RSSMB: procStatusMB("VmRSS"), HeapMB: float64(ms.HeapInuse) / (1 << 20)})
	}
	return nil
}

// printer returns a function that prints a line as JSON or as text.
func printer(asJSON bool) func(any) {
	w := bufio.NewWriter(os.Stdout)
	return func(v any) {
		if asJSON {
			b, _ := json.Marshal(v)
			w.Write(b)
			w.WriteByte('\n')
		} else {
			switch l := v.(type) {
			case setupLine:
				fmt.Fprintf(w, "%s %s batch %d lr %g momentum %g, %d steps/epoch, GOMAXPROCS %d, tags %q, data %s (load %.2fs, build %.2fs)\n",
					l.Side, l.Model, l.Batch, l.LR, l.Momentum, l.StepsEpoch, l.Threads, l.Tags, l.DataDir, l.LoadS, l.BuildS)
			case epochLine:
				fmt.Fprintf(w, "epoch %d: train %.2fs eval %.2fs loss %.4f test %.2f%% peak RSS %.0f MB (RSS %.0f MB, Go heap %.0f MB)\n",
					l.Epoch, l.TrainS, l.EvalS, l.TrainLoss, l.TestAcc, l.PeakRSSMB, l.RSSMB, l.HeapMB)
			}
		}
		w.Flush()
	}
}

// procStatusMB reads a "kB" field of /proc/self/status in MiB; 0 if absent.
func procStatusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0
		}
		return kb / 1024
	}
	return 0
}

// buildTags returns the -tags the binary was built with.
func buildTags() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
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
