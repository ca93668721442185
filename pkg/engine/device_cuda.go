//go:build nnxcuda

package engine

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// defaultMinMACs is the size (m*n*k multiply-adds) under which a matrix
// product stays on the CPU: smaller ones take less time there than a round
// trip to the GPU. $NNX_CUDA_MIN_MACS overrides it.
const defaultMinMACs = 1 << 16

// cuda is this process's GPU: loaded once, on the first SelectDevice that
// asks for it.
var cuda struct {
	once sync.Once
	blas *cublasBLAS
	info DeviceInfo
	err  error

	mu     sync.Mutex
	active bool   // gorgonia multiplies with blas
	cpu    G.BLAS // the BLAS it used before
}

// useCUDA loads CUDA (once), checks the GPU and makes gorgonia multiply on
// it.
func useCUDA() (DeviceInfo, error) {
	cuda.once.Do(func() { cuda.blas, cuda.info, cuda.err = openCUDA() })
	if cuda.err != nil {
		return DeviceInfo{}, cuda.err
	}
	if err := cuda.blas.failure(); err != nil {
		return DeviceInfo{}, fmt.Errorf("the GPU failed earlier in this process: %w", err)
	}
	cuda.mu.Lock()
	defer cuda.mu.Unlock()
	if !cuda.active {
		cuda.cpu = G.WhichBLAS()
		G.Use(cuda.blas)
		cuda.active = true
	}
	return cuda.info, nil
}

// useCPU gives gorgonia back the BLAS it had before useCUDA.
func useCPU() {
	cuda.mu.Lock()
	defer cuda.mu.Unlock()
	if cuda.active {
		G.Use(cuda.cpu)
		cuda.active = false
	}
}

// openCUDA loads the libraries, checks that GPU 0 is usable, creates the
// cuBLAS handle and checks one small product.
func openCUDA() (*cublasBLAS, DeviceInfo, error) {
	search := newLibSearch()
	api, err := loadCUDART(search)
	if err != nil {
		return nil, DeviceInfo{}, err
	}
	var drv, rt int32
	api.driverGetVersion(&drv)
	api.runtimeGetVersion(&rt)
	if drv == 0 {
		return nil, DeviceInfo{}, fmt.Errorf("no NVIDIA driver: libcuda.so.1 is missing or unusable (check nvidia-smi; libcudart is %s)", api.cudartPath)
	}
	var count int32
	if code := api.getDeviceCount(&count); code != 0 {
		err := api.cudaErr("cudaGetDeviceCount", code)
		if drv < rt {
			return nil, DeviceInfo{}, fmt.Errorf("no usable GPU: %w: the NVIDIA driver supports CUDA %s, %s is CUDA %s (update the driver or point NNX_CUDA_LIB_PATH at an older CUDA)",
				err, cudaVersion(drv), api.cudartPath, cudaVersion(rt))
		}
		return nil, DeviceInfo{}, fmt.Errorf("no usable GPU: %w", err)
	}
	if count == 0 {
		return nil, DeviceInfo{}, errors.New("no usable GPU: CUDA sees none (check nvidia-smi and $CUDA_VISIBLE_DEVICES)")
	}
	if err := api.cudaErr("cudaSetDevice(0)", api.setDevice(0)); err != nil {
		return nil, DeviceInfo{}, fmt.Errorf("no usable GPU: %w", err)
	}
	if err := loadCUBLAS(search, api); err != nil {
		return nil, DeviceInfo{}, err
	}
	var major, minor int32
	api.deviceAttribute(&major, 75, 0) // cudaDevAttrComputeCapabilityMajor
	api.deviceAttribute(&minor, 76, 0) // cudaDevAttrComputeCapabilityMinor
	bl := &cublasBLAS{api: api, minMACs: defaultMinMACs}
	if v := os.Getenv("NNX_CUDA_MIN_MACS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, DeviceInfo{}, fmt.Errorf("$NNX_CUDA_MIN_MACS: want a whole number >= 0, got %q", v)
		}
		bl.minMACs = n
	}
	if err := api.cublasErr("cublasCreate", api.cublasCreate(&bl.handle)); err != nil {
		return nil, DeviceInfo{}, fmt.Errorf("no usable GPU (sm_%d%d) for %s: %w", major, minor, api.cublasPath, err)
	}
	var ver int32
	api.cublasGetVersion(bl.handle, &ver)
	if err := selfTest(bl); err != nil {
		return nil, DeviceInfo{}, fmt.Errorf("no usable GPU (sm_%d%d) for %s: %w", major, minor, api.cublasPath, err)
	}
	name := gpuName()
	if name == "" {
		name = fmt.Sprintf("CUDA device 0 (sm_%d%d)", major, minor)
	}
	driver := "driver "
	if v := driverVersion(); v != "" {
		driver += v + " "
	}
	driver += fmt.Sprintf("(CUDA %s), runtime %s, cuBLAS %d.%d.%d", cudaVersion(drv), cudaVersion(rt), ver/10000, ver%10000/100, ver%100)
	return bl, DeviceInfo{Device: "cuda", Name: name, Driver: driver}, nil
}

// selfTest multiplies two small matrices on the GPU and checks the exact
// result, so that a GPU cuBLAS cannot run on fails here, not mid-training.
func selfTest(bl *cublasBLAS) error {
	a := []float32{1, 2, 3, 4, 5, 6}    // 2x3
	b := []float32{7, 8, 9, 10, 11, 12} // 3x2
	c := make([]float32, 4)
	if err := gemm(bl, bl.api.sgemm, blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2); err != nil {
		return err
	}
	if want := []float32{58, 64, 139, 154}; c[0] != want[0] || c[1] != want[1] || c[2] != want[2] || c[3] != want[3] {
		return fmt.Errorf("cuBLAS self-test: [1 2 3; 4 5 6]·[7 8; 9 10; 11 12] gave %v, want %v", c, want)
	}
	return nil
}
