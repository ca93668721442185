package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/model"
)

// trainingDigests pins, per BLAS and GOARCH, the SHA-256 of the seed CNN's
// weights and batch-norm statistics after 30 steps on real MNIST, and of
// the MLP's. Speed work in the engine must not move a single bit: the
// committed results are reproduced from their YAML and seed, and a trial's
// id does not change when the engine gets faster. A new platform logs its
// digests instead of failing; add them here. They hold on any number of
// cores (go test -cpu 1,2,4). On amd64 they assume AVX and FMA, as every
// x86-64 server CPU since 2013 has: Go's math.Exp (in the loss) uses FMA
// when the CPU has it, and rounds differently without.
var trainingDigests = map[string]map[string]string{
	"gonum/amd64": {
		"cnn": "9a97dc0defc574ef72f1f6e9a1b44e039371941cfc68964d638b8ef0c427ce5a",
		"mlp": "a345158a7430be2cc3f32c176f5c943a31e72b12ba64d045a643eccfec096e04",
	},
	"openblas-1t/amd64": {
		"cnn": "d5733de70073078aae97ae6e31e746310d1b2ec7c3a64bfc7aa8815f41aca3e9",
		"mlp": "2e89d895926af5741cbdebca577e2160b0a32bedf1670ddd649990b539ed6ec8",
	},
}

// realMNIST loads the first n training images of real MNIST (and the whole
// test set), or skips the test when the data cannot be found.
func realMNIST(t *testing.T, n int) (train, test *dataset.Set) {
	t.Helper()
	dir, err := dataset.Locate("", os.Getenv)
	if err != nil {
		t.Skipf("MNIST not found, skipping: %v", err)
	}
	train, test, err = dataset.LoadMNIST(dir, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

func TestTrainingDigest(t *testing.T) {
	train, _ := realMNIST(t, 3000)
	cases := []struct {
		name   string
		layers []model.Layer
		batch  int
		opt    Options
	}{
		{"cnn", model.SeedCNN(10), 50, Options{LearningRate: 0.01, Momentum: 0.9, Init: "pytorch"}},
		{"mlp", model.MLP([]int{128, 128}, model.ReLU, 10), 32, Options{LearningRate: 0.05, Momentum: 0.9}},
	}
	want := trainingDigests[BLAS+"/"+runtime.GOARCH]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: c.layers}
			c.opt.BatchSize = c.batch
			net, err := New(spec, c.opt, rand.New(rand.NewPCG(7, 7)))
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			feat := 784
			for s := 0; s < 30; s++ {
				lo := s * c.batch % (train.Len() - c.batch)
				if _, _, err := net.Step(train.X[lo*feat:(lo+c.batch)*feat], train.Y[lo:lo+c.batch]); err != nil {
					t.Fatal(err)
				}
			}
			h := sha256.New()
			for _, w := range net.Weights() {
				for _, v := range w.Data {
					h.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)))
				}
			}
			got := hex.EncodeToString(h.Sum(nil))
			switch w := want[c.name]; w {
			case "":
				t.Logf("no digest for %s/%s yet: %s", BLAS, runtime.GOARCH, got)
			case got:
			default:
				t.Errorf("weights after 30 steps: digest %s, want %s: the engine's arithmetic changed", got, w)
			}
		})
	}
}
