//go:build nnxcuda

package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cudaAPI holds the functions of the CUDA runtime (libcudart) and cuBLAS
// (libcublas) that nnx calls, loaded at run time with purego: a CUDA build
// needs neither cgo nor CUDA's headers, and runs on any CUDA whose sonames
// it knows.
type cudaAPI struct {
	cudartPath, cublasPath string

	getDeviceCount    func(count *int32) int32
	setDevice         func(dev int32) int32
	deviceAttribute   func(value *int32, attr, dev int32) int32
	driverGetVersion  func(v *int32) int32
	runtimeGetVersion func(v *int32) int32
	malloc            func(p *uintptr, size uint64) int32
	free              func(p uintptr) int32
	mallocHost        func(p *unsafe.Pointer, size uint64) int32
	freeHost          func(p unsafe.Pointer) int32
	memcpyHtoD        func(dst uintptr, src unsafe.Pointer, n uint64, kind int32, stream uintptr) int32
	memcpyDtoH        func(dst unsafe.Pointer, src uintptr, n uint64, kind int32, stream uintptr) int32
	streamSync        func(stream uintptr) int32
	errorString       func(code int32) string

	cublasCreate       func(h *uintptr) int32
	cublasGetVersion   func(h uintptr, v *int32) int32
	cublasStatusString func(code int32) string // nil before cuBLAS 11.4
	sgemm              func(h uintptr, ta, tb, m, n, k int32, alpha *float32, a uintptr, lda int32, b uintptr, ldb int32, beta *float32, c uintptr, ldc int32) int32
	dgemm              func(h uintptr, ta, tb, m, n, k int32, alpha *float64, a uintptr, lda int32, b uintptr, ldb int32, beta *float64, c uintptr, ldc int32) int32
}

// cudaMemcpy kinds and cuBLAS operations, as CUDA's headers number them.
const (
	memcpyHostToDevice = 1
	memcpyDeviceToHost = 2
	cublasOpN          = 0
	cublasOpT          = 1
)

// The sonames tried, newest first. libcublas and libcudart are looked for
// by these names in every directory searched.
var (
	cudartNames   = []string{"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"}
	cublasNames   = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}
	cublasLtNames = []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"}
)

// libSearch finds shared libraries in $NNX_CUDA_LIB_PATH, the dynamic
// linker's path, CUDA's usual install directories and the NVIDIA wheels of
// python3's PyTorch, remembering where it looked for the error message.
type libSearch struct {
	envDirs []string
	stdDirs []string
	pyDirs  []string
	pyNote  string
	pyDone  bool
}

func newLibSearch() *libSearch {
	s := &libSearch{}
	for _, d := range filepath.SplitList(os.Getenv("NNX_CUDA_LIB_PATH")) {
		if d != "" {
			s.envDirs = append(s.envDirs, d)
		}
	}
	s.stdDirs = []string{"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"}
	for _, g := range []string{"/usr/local/cuda-*/lib64", "/usr/local/cuda-*/targets/*/lib"} {
		m, _ := filepath.Glob(g)
		s.stdDirs = append(s.stdDirs, m...)
	}
	s.stdDirs = append(s.stdDirs, "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64")
	return s
}

// pythonDirs lists the lib directories of the nvidia-* wheels that
// python3's packages (PyTorch's CUDA libraries) install, asking python3
// once.
func (s *libSearch) pythonDirs() []string {
	if s.pyDone {
		return s.pyDirs
	}
	s.pyDone = true
	const script = `import glob, os
try:
    import nvidia
    for p in nvidia.__path__:
        for d in sorted(glob.glob(os.path.join(p, '*', 'lib'))):
            print(d)
except Exception:
    pass
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", script).Output()
	if err != nil {
		s.pyNote = "python3's nvidia wheels (python3: " + err.Error() + ")"
		return nil
	}
	s.pyDirs = strings.Fields(string(out))
	if len(s.pyDirs) == 0 {
		s.pyNote = "python3's nvidia wheels (none installed)"
	} else {
		s.pyNote = "python3's nvidia wheels (" + strings.Join(s.pyDirs, ", ") + ")"
	}
	return s.pyDirs
}

// open loads the first of names it finds, preloading a same-directory
// dependency from deps first (libcublasLt beside libcublas). The error
// says where it looked and why files it found did not load.
func (s *libSearch) open(names, deps []string) (handle uintptr, path string, err error) {
	var failed []string
	tryFile := func(dir string) bool {
		for _, n := range names {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			for _, d := range deps {
				if dp := filepath.Join(dir, d); fileExists(dp) {
					purego.Dlopen(dp, purego.RTLD_NOW|purego.RTLD_GLOBAL) // best effort; libcublas's own load reports failures
					break
				}
			}
			h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err == nil {
				handle, path = h, p
				return true
			}
			failed = append(failed, fmt.Sprintf("%s: %v", p, err))
		}
		return false
	}
	for _, d := range s.envDirs {
		if tryFile(d) {
			return handle, path, nil
		}
	}
	for _, n := range names {
		if h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			return h, n, nil
		} else if !strings.Contains(err.Error(), "No such file") && !strings.Contains(err.Error(), "cannot open shared object file") {
			failed = append(failed, fmt.Sprintf("%s: %v", n, err))
		}
	}
	for _, d := range s.stdDirs {
		if tryFile(d) {
			return handle, path, nil
		}
	}
	for _, d := range s.pythonDirs() {
		if tryFile(d) {
			return handle, path, nil
		}
	}
	env := "$NNX_CUDA_LIB_PATH (unset)"
	if len(s.envDirs) > 0 {
		env = "$NNX_CUDA_LIB_PATH (" + strings.Join(s.envDirs, ":") + ")"
	}
	lib := strings.TrimSuffix(names[len(names)-1], ".so")
	msg := fmt.Sprintf("%s not found: looked for %s in %s; the dynamic linker's path ($LD_LIBRARY_PATH, /etc/ld.so.cache); %s; %s",
		lib, strings.Join(names, ", "), env, strings.Join(s.stdDirs, ", "), s.pyNote)
	if len(failed) > 0 {
		msg = fmt.Sprintf("%s could not be loaded: %s (looked in %s; the dynamic linker's path; %s; %s)",
			lib, strings.Join(failed, "; "), env, strings.Join(s.stdDirs, ", "), s.pyNote)
	}
	return 0, "", fmt.Errorf("%s. Install CUDA's runtime and cuBLAS (CUDA 11 to 13), or set NNX_CUDA_LIB_PATH to the directories holding them", msg)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// bind points each function pointer in fns at the named symbol of lib. A
// nil-able entry (optional) is left nil when the symbol is missing.
func bind(lib uintptr, libName string, fns map[string]any, optional ...string) error {
	for name, fptr := range fns {
		sym, err := purego.Dlsym(lib, name)
		if err != nil {
			if slices.Contains(optional, name) {
				continue
			}
			return fmt.Errorf("%s has no %s (too old a CUDA?): %v", libName, name, err)
		}
		purego.RegisterFunc(fptr, sym)
	}
	return nil
}

// loadCUDART finds and binds libcudart.
func loadCUDART(s *libSearch) (*cudaAPI, error) {
	api := &cudaAPI{}
	rt, p, err := s.open(cudartNames, nil)
	if err != nil {
		return nil, err
	}
	api.cudartPath = p
	if err := bind(rt, p, map[string]any{
		"cudaGetDeviceCount":     &api.getDeviceCount,
		"cudaSetDevice":          &api.setDevice,
		"cudaDeviceGetAttribute": &api.deviceAttribute,
		"cudaDriverGetVersion":   &api.driverGetVersion,
		"cudaRuntimeGetVersion":  &api.runtimeGetVersion,
		"cudaMalloc":             &api.malloc,
		"cudaFree":               &api.free,
		"cudaMallocHost":         &api.mallocHost,
		"cudaFreeHost":           &api.freeHost,
		"cudaStreamSynchronize":  &api.streamSync,
		"cudaGetErrorString":     &api.errorString,
	}); err != nil {
		return nil, err
	}
	// One symbol, two Go signatures: host to device and device to host.
	sym, err := purego.Dlsym(rt, "cudaMemcpyAsync")
	if err != nil {
		return nil, fmt.Errorf("%s has no cudaMemcpyAsync: %v", p, err)
	}
	purego.RegisterFunc(&api.memcpyHtoD, sym)
	purego.RegisterFunc(&api.memcpyDtoH, sym)
	return api, nil
}

// loadCUBLAS finds libcublas and binds it into api.
func loadCUBLAS(s *libSearch, api *cudaAPI) error {
	bl, p, err := s.open(cublasNames, cublasLtNames)
	if err != nil {
		return err
	}
	api.cublasPath = p
	return bind(bl, p, map[string]any{
		"cublasCreate_v2":       &api.cublasCreate,
		"cublasGetVersion_v2":   &api.cublasGetVersion,
		"cublasGetStatusString": &api.cublasStatusString,
		"cublasSgemm_v2":        &api.sgemm,
		"cublasDgemm_v2":        &api.dgemm,
	}, "cublasGetStatusString")
}

// cudaErr turns a CUDA runtime status into an error naming the call.
func (api *cudaAPI) cudaErr(call string, code int32) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (cudaError %d)", call, api.errorString(code), code)
}

// cublasErr turns a cuBLAS status into an error naming the call.
func (api *cudaAPI) cublasErr(call string, code int32) error {
	if code == 0 {
		return nil
	}
	if api.cublasStatusString != nil {
		return fmt.Errorf("%s: %s (cublasStatus %d)", call, api.cublasStatusString(code), code)
	}
	return fmt.Errorf("%s: cublasStatus %d", call, code)
}

// gpuName asks the CUDA driver (libcuda.so.1) for device 0's name; "" when
// it cannot.
func gpuName() string {
	h, err := purego.Dlopen("libcuda.so.1", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return ""
	}
	var (
		cuInit          func(flags uint32) int32
		cuDeviceGet     func(dev *int32, ordinal int32) int32
		cuDeviceGetName func(name *byte, n int32, dev int32) int32
	)
	if bind(h, "libcuda.so.1", map[string]any{"cuInit": &cuInit, "cuDeviceGet": &cuDeviceGet, "cuDeviceGetName": &cuDeviceGetName}) != nil {
		return ""
	}
	var dev int32
	buf := make([]byte, 256)
	if cuInit(0) != 0 || cuDeviceGet(&dev, 0) != 0 || cuDeviceGetName(&buf[0], int32(len(buf)), dev) != 0 {
		return ""
	}
	return cString(buf)
}

// driverVersion asks NVML (libnvidia-ml.so.1) for the NVIDIA driver's
// version, such as "580.159.04"; "" when it cannot.
func driverVersion() string {
	h, err := purego.Dlopen("libnvidia-ml.so.1", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return ""
	}
	var (
		nvmlInit          func() int32
		nvmlShutdown      func() int32
		nvmlDriverVersion func(buf *byte, n uint32) int32
	)
	if bind(h, "libnvidia-ml.so.1", map[string]any{"nvmlInit_v2": &nvmlInit, "nvmlShutdown": &nvmlShutdown,
		"nvmlSystemGetDriverVersion": &nvmlDriverVersion}) != nil {
		return ""
	}
	if nvmlInit() != 0 {
		return ""
	}
	defer nvmlShutdown()
	buf := make([]byte, 96)
	if nvmlDriverVersion(&buf[0], uint32(len(buf))) != 0 {
		return ""
	}
	return cString(buf)
}

// cString is buf up to its first NUL.
func cString(buf []byte) string {
	if i := strings.IndexByte(string(buf), 0); i >= 0 {
		buf = buf[:i]
	}
	return strings.TrimSpace(string(buf))
}

// cudaVersion formats a CUDA version number (13000 is "13.0").
func cudaVersion(v int32) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }
