// Package bundle saves and loads trained models. A bundle is a directory:
// manifest.json (architecture, input, labels, metrics, provenance and the
// sha256 of every other file), weights.safetensors (readable by Python's
// safetensors) and extra files such as the trial's config and metrics.
// Bundles are written and copied atomically, and loading verifies every
// checksum.
package bundle

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/nnx-dev/nnx/pkg/model"
)

// WeightsFile is the weights file's name inside a bundle.
const WeightsFile = "weights.safetensors"

// maxHeader bounds the JSON header a reader accepts.
const maxHeader = 1 << 24

type tensorInfo struct {
	Dtype   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// EncodeSafetensors serialises tensors as safetensors: an 8-byte
// little-endian header length, a JSON header (keys sorted, as encoding/json
// writes maps), then the float32 data in header order.
func EncodeSafetensors(ts []model.Tensor) ([]byte, error) {
	header := map[string]tensorInfo{}
	off := 0
	names := make([]string, 0, len(ts))
	byName := map[string]model.Tensor{}
	for _, t := range ts {
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		if model.Shape(t.Shape).Size() != len(t.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q has shape %v but %d values", t.Name, t.Shape, len(t.Data))
		}
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	slices.Sort(names)
	for _, n := range names {
		t := byName[n]
		header[n] = tensorInfo{Dtype: "F32", Shape: t.Shape, Offsets: [2]int{off, off + 4*len(t.Data)}}
		off += 4 * len(t.Data)
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 { // align the data to 8 bytes, as the reference writer does
		h = append(h, ' ')
	}
	out := make([]byte, 8, 8+len(h)+off)
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	for _, n := range names {
		for _, v := range byName[n].Data {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	}
	return out, nil
}

// DecodeSafetensors parses F32 tensors, sorted by name. name labels errors.
func DecodeSafetensors(name string, b []byte) ([]model.Tensor, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%s: truncated: %d bytes, too short for a safetensors header", name, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || 8+n > uint64(len(b)) {
		return nil, fmt.Errorf("%s: truncated or corrupt: header of %d bytes in a %d-byte file", name, n, len(b))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("%s: bad header: %v", name, err)
	}
	data := b[8+n:]
	var out []model.Tensor
	for k, raw := range header {
		if k == "__metadata__" {
			continue
		}
		var ti tensorInfo
		if err := json.Unmarshal(raw, &ti); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %v", name, k, err)
		}
		if ti.Dtype != "F32" {
			return nil, fmt.Errorf("%s: tensor %q has dtype %s; nnx reads F32", name, k, ti.Dtype)
		}
		size := model.Shape(ti.Shape).Size()
		a, e := ti.Offsets[0], ti.Offsets[1]
		if a < 0 || e > len(data) || e-a != 4*size {
			return nil, fmt.Errorf("%s: tensor %q: offsets %v do not fit shape %v in %d bytes of data (truncated?)", name, k, ti.Offsets, ti.Shape, len(data))
		}
		t := model.Tensor{Name: k, Shape: ti.Shape, Data: make([]float32, size)}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[a+4*i:]))
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y model.Tensor) int {
		if x.Name < y.Name {
			return -1
		}
		if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

// ReadWeights reads a safetensors file.
func ReadWeights(path string) ([]model.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeSafetensors(path, b)
}
