//go:build nnxcuda

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"

	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/model"
)

// needCUDA selects the GPU for the test, or skips it saying why there is
// none; the BLAS goes back to the CPU's when the test ends.
func needCUDA(t *testing.T) DeviceInfo {
	t.Helper()
	info, _, err := SelectDevice("cuda")
	if err != nil {
		t.Skipf("no usable GPU, skipping: %v", err)
	}
	t.Cleanup(func() { SelectDevice("cpu") })
	return info
}

func TestSelectDeviceCUDA(t *testing.T) {
	info := needCUDA(t)
	t.Logf("GPU: %s; %s", info.Name, info.Driver)
	if info.Device != "cuda" || info.Name == "" || !strings.Contains(info.Driver, "CUDA") {
		t.Errorf("SelectDevice(cuda) = %+v", info)
	}
	if _, ok := G.WhichBLAS().(*cublasBLAS); !ok {
		t.Errorf("gorgonia's BLAS is %T on cuda, want *cublasBLAS", G.WhichBLAS())
	}
	auto, note, err := SelectDevice("auto")
	if err != nil || auto != info || !strings.Contains(note, "using cuda") {
		t.Errorf("SelectDevice(auto) = %+v, %q, %v; want the GPU and a note", auto, note, err)
	}
	if _, _, err := SelectDevice("cpu"); err != nil {
		t.Fatal(err)
	}
	if _, ok := G.WhichBLAS().(*cublasBLAS); ok {
		t.Error("gorgonia still multiplies on the GPU after SelectDevice(cpu)")
	}
}

// gemmCase is one product to compare: sizes, transposes, beta and the
// padding added to every leading dimension.
type gemmCase struct {
	m, n, k int
	tA, tB  blas.Transpose
	beta    float64
	pad     int
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	for _, s := range [][3]int{{1, 1, 1}, {2, 3, 4}, {33, 17, 65}, {50, 128, 784}, {128, 10, 128}, {784, 128, 50}, {1000, 64, 1690}} {
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				for _, v := range []struct {
					beta float64
					pad  int
				}{{0, 0}, {0.5, 0}, {0, 3}, {1, 2}} {
					cases = append(cases, gemmCase{s[0], s[1], s[2], tA, tB, v.beta, v.pad})
				}
			}
		}
	}
	return cases
}

// operands draws A, B and C for c in [-1, 1), with leading dimensions
// padded by c.pad; C's padding holds a sentinel that must survive.
func operands[T float32 | float64](c gemmCase, rng *rand.Rand) (a []T, lda int, b []T, ldb int, cc []T, ldc int) {
	ra, ca := c.m, c.k
	if c.tA != blas.NoTrans {
		ra, ca = c.k, c.m
	}
	rb, cb := c.k, c.n
	if c.tB != blas.NoTrans {
		rb, cb = c.n, c.k
	}
	lda, ldb, ldc = ca+c.pad, cb+c.pad, c.n+c.pad
	fill := func(n int) []T {
		v := make([]T, n)
		for i := range v {
			v[i] = T(2*rng.Float64() - 1)
		}
		return v
	}
	a, b, cc = fill((ra-1)*lda+ca), fill((rb-1)*ldb+cb), fill((c.m-1)*ldc+c.n)
	for i := 0; i < c.m-1; i++ {
		for j := c.n; j < ldc; j++ {
			cc[i*ldc+j] = 12345
		}
	}
	return a, lda, b, ldb, cc, ldc
}

// forceGPU makes every product of gpu run on the GPU until the test ends.
func forceGPU(t *testing.T, gpu *cublasBLAS) {
	old := gpu.minMACs
	gpu.minMACs = 0
	t.Cleanup(func() { gpu.minMACs = old })
}

func TestCUBLASGemmMatchesGonum(t *testing.T) {
	needCUDA(t)
	gpu := G.WhichBLAS().(*cublasBLAS)
	forceGPU(t, gpu)
	before := gpu.products()
	var cpu gonum.Implementation
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range gemmCases() {
		name := fmt.Sprintf("%dx%dx%d/%c%c/beta%g/pad%d", c.m, c.n, c.k, c.tA, c.tB, c.beta, c.pad)
		{
			a, lda, b, ldb, want, ldc := operands[float32](c, rng)
			got := append([]float32(nil), want...)
			cpu.Sgemm(c.tA, c.tB, c.m, c.n, c.k, 0.75, a, lda, b, ldb, float32(c.beta), want, ldc)
			gpu.Sgemm(c.tA, c.tB, c.m, c.n, c.k, 0.75, a, lda, b, ldb, float32(c.beta), got, ldc)
			compare(t, "Sgemm "+name, got, want, 2e-6*float64(c.k)+1e-6)
		}
		{
			a, lda, b, ldb, want, ldc := operands[float64](c, rng)
			got := append([]float64(nil), want...)
			cpu.Dgemm(c.tA, c.tB, c.m, c.n, c.k, 0.75, a, lda, b, ldb, c.beta, want, ldc)
			gpu.Dgemm(c.tA, c.tB, c.m, c.n, c.k, 0.75, a, lda, b, ldb, c.beta, got, ldc)
			compare(t, "Dgemm "+name, got, want, 1e-13*float64(c.k)+1e-14)
		}
	}
	if err := gpu.failure(); err != nil {
		t.Fatalf("the GPU failed: %v", err)
	}
	if n, want := gpu.products()-before, int64(2*len(gemmCases())); n != want {
		t.Errorf("%d products ran on the GPU, want %d", n, want)
	}
}

func compare[T float32 | float64](t *testing.T, name string, got, want []T, tol float64) {
	t.Helper()
	worst, at := 0.0, -1
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: element %d is %v, gonum's %v (tolerance %g)", name, at, got[at], want[at], tol)
	}
}

// TestCUBLASConcurrent multiplies from several goroutines at once, as
// folds trained side by side do.
func TestCUBLASConcurrent(t *testing.T) {
	needCUDA(t)
	gpu := G.WhichBLAS().(*cublasBLAS)
	forceGPU(t, gpu)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			c := gemmCase{m: 50 + g, n: 128, k: 784, tA: blas.NoTrans, tB: blas.Trans}
			for range 50 {
				a, lda, b, ldb, want, ldc := operands[float32](c, rng)
				got := make([]float32, len(want))
				gonum.Implementation{}.Sgemm(c.tA, c.tB, c.m, c.n, c.k, 1, a, lda, b, ldb, 0, want, ldc)
				gpu.Sgemm(c.tA, c.tB, c.m, c.n, c.k, 1, a, lda, b, ldb, 0, got, ldc)
				compare(t, fmt.Sprintf("goroutine %d", g), got, want, 2e-6*float64(c.k))
			}
		}()
	}
	wg.Wait()
}

// TestCUDATrainsLikeCPU trains the seed's MLP and CNN for one epoch on real
// MNIST on the CPU and on the GPU, from the same seed, and wants the same
// test accuracy within 0.3 points.
func TestCUDATrainsLikeCPU(t *testing.T) {
	needCUDA(t)
	train, test := realMNIST(t, 20000)
	for _, m := range []struct {
		name   string
		layers []model.Layer
		lr     float64
	}{
		{"mlp", model.MLP([]int{128, 128}, model.ReLU, 10), 0.05},
		{"cnn", model.SeedCNN(10), 0.01},
	} {
		t.Run(m.name, func(t *testing.T) {
			acc := map[string]float64{}
			for _, dev := range []string{"cpu", "cuda"} {
				if _, _, err := SelectDevice(dev); err != nil {
					t.Fatal(err)
				}
				gpu := cuda.blas.products()
				start := time.Now()
				a, loss, err := trainEpoch(m.layers, m.lr, train, test)
				if err != nil {
					t.Fatalf("%s: %v", dev, err)
				}
				gpu = cuda.blas.products() - gpu
				t.Logf("%s: one epoch on %d images in %.1fs (%d products on the GPU): loss %.4f, test accuracy %.2f%%",
					dev, train.Len(), time.Since(start).Seconds(), gpu, loss, a)
				if (gpu > 0) != (dev == "cuda") {
					t.Errorf("%s: %d products on the GPU", dev, gpu)
				}
				acc[dev] = a
			}
			if d := math.Abs(acc["cuda"] - acc["cpu"]); d > 0.3 {
				t.Errorf("test accuracy: cuda %.2f%%, cpu %.2f%%: %.2f points apart, want at most 0.3", acc["cuda"], acc["cpu"], d)
			}
		})
	}
	if err := G.WhichBLAS().(*cublasBLAS).failure(); err != nil {
		t.Fatalf("the GPU failed: %v", err)
	}
}

// trainEpoch trains a fresh network (seed 1, SGD with momentum 0.9, batch
// 50) for one epoch and returns its test accuracy in percent and its mean
// training loss.
func trainEpoch(layers []model.Layer, lr float64, train, test *dataset.Set) (acc, loss float64, err error) {
	spec := model.Spec{Input: model.Shape{1, train.Rows, train.Cols}, Classes: train.Classes, Layers: layers}
	const batch = 50
	net, err := New(spec, Options{BatchSize: batch, Optimizer: "sgd", LearningRate: lr, Momentum: 0.9, Init: "pytorch"},
		rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		return 0, 0, err
	}
	defer net.Close()
	order := rand.New(rand.NewPCG(1, 2)).Perm(train.Len())
	feat := train.Features()
	x, y := make([]float32, batch*feat), make([]uint8, batch)
	steps := train.Len() / batch
	for s := range steps {
		for b, i := range order[s*batch : (s+1)*batch] {
			copy(x[b*feat:], train.Image(i))
			y[b] = train.Y[i]
		}
		l, _, err := net.Step(x, y)
		if err != nil {
			return 0, 0, err
		}
		loss += l / float64(steps)
	}
	probs := make([]float32, test.Len()*test.Classes)
	if err := net.Predict(test.X, probs); err != nil {
		return 0, 0, err
	}
	correct := 0
	for i, c := range test.Y {
		if argmax(probs[i*test.Classes:(i+1)*test.Classes]) == int(c) {
			correct++
		}
	}
	return 100 * float64(correct) / float64(test.Len()), loss, nil
}
