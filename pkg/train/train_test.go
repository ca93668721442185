package train

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/dataset"
)

// mnist loads a real MNIST subset, or skips when the data is not present.
func mnist(t *testing.T, train, test int) Data {
	t.Helper()
	dir, err := dataset.Locate("", os.Getenv)
	var nf *dataset.NotFoundError
	if errors.As(err, &nf) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	tr, te, err := dataset.LoadMNIST(dir, train, test)
	if err != nil {
		t.Fatal(err)
	}
	return Data{Train: tr, Test: te}
}

func quickTrial() config.Trial {
	c := config.Defaults()
	return config.Trial{Data: c.Data, Split: config.Split{Folds: 2, Holdout: 0.2, Test: "official"},
		Model:  config.Model{Hidden: []int{64, 64}, Activation: "relu", Init: "glorot"},
		Train:  config.Train{Epochs: 8, BatchSize: 32, Optimizer: "sgd", LearningRate: 0.05, Momentum: 0.9},
		Device: "cpu", Seed: 1}
}

// TestLearnsRealMNIST trains the seed's MLP shape on 3,000 real images and
// expects well above chance on held-out folds and the real test set.
func TestLearnsRealMNIST(t *testing.T) {
	data := mnist(t, 3000, 2000)
	var events []Event
	res, err := Run(context.Background(), quickTrial(), data, Options{Jobs: 1, Progress: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Folds) != 2 || len(events) != 16 {
		t.Fatalf("%d folds, %d events; want 2 and 16", len(res.Folds), len(events))
	}
	for _, f := range res.Folds {
		if f.TrainSize != 1500 || f.ValSize != 1500 {
			t.Errorf("fold %d: %d/%d examples, want 1500/1500", f.Fold, f.TrainSize, f.ValSize)
		}
		if f.ValAccuracy < 0.85 {
			t.Errorf("fold %d: validation accuracy %.3f, want > 0.85", f.Fold, f.ValAccuracy)
		}
		if f.Test.Accuracy < 0.85 {
			t.Errorf("fold %d: test accuracy %.3f, want > 0.85", f.Fold, f.Test.Accuracy)
		}
		if f.Epochs[7].TrainLoss >= f.Epochs[0].TrainLoss {
			t.Errorf("fold %d: training loss did not fall: %v", f.Fold, f.Epochs)
		}
	}
	best := res.Folds[res.BestFold]
	if best.Test.Confusion == nil {
		t.Fatal("best fold has no confusion matrix")
	}
	total, diag := 0, 0
	for i, row := range best.Test.Confusion {
		for j, v := range row {
			total += v
			if i == j {
				diag += v
			}
		}
	}
	if total != 2000 || float64(diag)/2000 != best.Test.Accuracy {
		t.Errorf("confusion matrix sums to %d with %d correct; want 2000 and accuracy %v", total, diag, best.Test.Accuracy)
	}
	if len(res.Weights) != 6 {
		t.Errorf("%d weight tensors, want 6", len(res.Weights))
	}
}

// TestDeterministic runs the same trial twice, one fold at a time and two
// at a time: every metric but the timings must be bitwise equal.
func TestDeterministic(t *testing.T) {
	data := mnist(t, 1000, 500)
	c := quickTrial()
	c.Train.Epochs = 2
	strip := func(r *Result) *Result {
		for i := range r.Folds {
			r.Folds[i].Seconds = 0
			for j := range r.Folds[i].Epochs {
				r.Folds[i].Epochs[j].Seconds = 0
			}
		}
		return r
	}
	a, err := Run(context.Background(), c, data, Options{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), c, data, Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(strip(a), strip(b)) {
		t.Fatal("two runs of the same trial differ")
	}
	c.Seed = 2
	d, err := Run(context.Background(), c, data, Options{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(strip(a).Folds, strip(d).Folds) {
		t.Fatal("a different seed gave the same results")
	}
}

func TestCancel(t *testing.T) {
	data := mnist(t, 1000, 100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, quickTrial(), data, Options{Jobs: 2}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestCUDAUnavailable(t *testing.T) {
	_, _, err := Device("cuda")
	if err == nil || !strings.HasPrefix(err.Error(), "device cuda: this build of nnx has no CUDA support; build one with `go build -tags nnxcuda ./cmd/nnx`") {
		t.Fatalf("got %v", err)
	}
	info, note, err := Device("auto")
	if err != nil || info.Device != "cpu" || !strings.HasPrefix(note, "device auto: using cpu: ") {
		t.Fatalf("auto: %+v %q %v", info, note, err)
	}
}

func TestLearningRateSchedules(t *testing.T) {
	tr := config.Train{LearningRate: 0.1, Epochs: 10, StepSize: 3, Gamma: 0.5}
	for _, tc := range []struct {
		schedule string
		epoch    int
		want     float64
	}{
		{"constant", 7, 0.1}, {"", 7, 0.1},
		{"step", 1, 0.1}, {"step", 3, 0.1}, {"step", 4, 0.05}, {"step", 10, 0.0125},
		{"cosine", 1, 0.1}, {"cosine", 6, 0.05}, {"cosine", 10, 0.1 * 0.5 * (1 + math.Cos(math.Pi*0.9))},
	} {
		tr.Schedule = tc.schedule
		if got := LearningRate(tr, tc.epoch); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s epoch %d: %v, want %v", tc.schedule, tc.epoch, got, tc.want)
		}
	}
}

// TestEarlyStopping overfits 400 real images: validation loss turns up, the
// fold stops after patience epochs without improvement and keeps the best.
func TestEarlyStopping(t *testing.T) {
	data := mnist(t, 800, 200)
	c := quickTrial()
	c.Train.Epochs, c.Train.LearningRate = 40, 0.1
	c.Train.EarlyStopping = config.EarlyStopping{Metric: "val_loss", Patience: 2}
	res, err := Run(context.Background(), c, data, Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Folds {
		n := len(f.Epochs)
		if n == 40 {
			t.Fatalf("fold %d ran all 40 epochs", f.Fold)
		}
		best := 0
		for i, e := range f.Epochs {
			if e.ValLoss < f.Epochs[best].ValLoss {
				best = i
			}
		}
		if f.BestEpoch != best+1 || n != best+1+2 {
			t.Errorf("fold %d: best epoch %d of %d, want %d and %d epochs run", f.Fold, f.BestEpoch, n, best+1, best+3)
		}
		if f.ValAccuracy != f.Epochs[best].ValAccuracy {
			t.Errorf("fold %d: kept validation accuracy %v, best epoch's %v", f.Fold, f.ValAccuracy, f.Epochs[best].ValAccuracy)
		}
	}
}

// memCheckpoints keeps checkpoints gob-encoded in memory, as a file would.
type memCheckpoints struct {
	mu    sync.Mutex
	saved map[int][]byte
	saves int
}

func (m *memCheckpoints) Load(fold int) (*Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.saved[fold]
	if !ok {
		return nil, nil
	}
	var c Checkpoint
	return &c, gob.NewDecoder(bytes.NewReader(b)).Decode(&c)
}

func (m *memCheckpoints) Save(fold int, c *Checkpoint) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(c); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.saved == nil {
		m.saved = map[int][]byte{}
	}
	m.saved[fold] = buf.Bytes()
	m.saves++
	return nil
}

// TestResumeIsExact interrupts a trial mid-fold (Ctrl-C after the 3rd epoch
// of a CNN with batch norm and dropout, Adam, a step schedule), resumes it
// from the checkpoints, and expects the very numbers of an uninterrupted run.
func TestResumeIsExact(t *testing.T) {
	data := mnist(t, 600, 200)
	c := quickTrial()
	c.Train = config.Train{Epochs: 5, BatchSize: 20, Optimizer: "adam", LearningRate: 0.003, Schedule: "step", StepSize: 2, Gamma: 0.5,
		Augment: config.Augment{Shift: 2}}
	c.Model = config.Model{Init: "pytorch", Layers: []config.Layer{
		{Conv2D: &config.Conv2D{Filters: 4, Kernel: 3, Stride: 2}}, {BatchNorm: &config.Empty{}}, {ReLU: &config.Empty{}},
		{Flatten: &config.Empty{}}, {Dropout: &config.Dropout{Rate: 0.3}}, {Dense: &config.Dense{Units: 10}}}}
	whole, err := Run(context.Background(), c, data, Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	ck := &memCheckpoints{}
	ctx, cancel := context.WithCancel(context.Background())
	epochs := 0
	_, err = Run(ctx, c, data, Options{Jobs: 1, Checkpoints: ck, Progress: func(e Event) {
		if epochs++; epochs == 8 { // fold 1 done, fold 2 at epoch 3
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	var restored, trained int
	resumed, err := Run(context.Background(), c, data, Options{Jobs: 2, Checkpoints: ck, Progress: func(e Event) {
		if e.Restored {
			restored++
		} else {
			trained++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if restored != 8 || trained != 2 {
		t.Errorf("resume replayed %d epochs and trained %d, want 8 and 2", restored, trained)
	}
	strip := func(r *Result) {
		for i := range r.Folds {
			r.Folds[i].Seconds = 0
			for j := range r.Folds[i].Epochs {
				r.Folds[i].Epochs[j].Seconds = 0
			}
		}
	}
	strip(whole)
	strip(resumed)
	if !reflect.DeepEqual(whole, resumed) {
		t.Fatalf("resumed run differs from the uninterrupted one:\n%+v\n%+v", whole.Folds[1].Epochs, resumed.Folds[1].Epochs)
	}
}

func TestShiftImage(t *testing.T) {
	src := []float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	for _, tc := range []struct {
		dx, dy int
		want   []float32
	}{
		{0, 0, src},
		{1, 0, []float32{0, 1, 2, 0, 4, 5, 0, 7, 8}},
		{-1, 0, []float32{2, 3, 0, 5, 6, 0, 8, 9, 0}},
		{0, 1, []float32{0, 0, 0, 1, 2, 3, 4, 5, 6}},
		{-1, -1, []float32{5, 6, 0, 8, 9, 0, 0, 0, 0}},
		{2, 2, []float32{0, 0, 0, 0, 0, 0, 0, 0, 1}},
	} {
		dst := make([]float32, 9)
		for i := range dst {
			dst[i] = -1 // stale values must be overwritten
		}
		shiftImage(dst, src, 3, 3, tc.dx, tc.dy)
		if !reflect.DeepEqual(dst, tc.want) {
			t.Errorf("shift (%d, %d): %v, want %v", tc.dx, tc.dy, dst, tc.want)
		}
	}
}
