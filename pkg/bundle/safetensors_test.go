package bundle

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/nnx-dev/nnx/pkg/model"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	in := []model.Tensor{
		{Name: "dense1.weight", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, 1e-8, -7}},
		{Name: "dense0.bias", Shape: []int{1, 2}, Data: []float32{0.25, -0.5}},
	}
	b, err := EncodeSafetensors(in)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	if (8+n)%8 != 0 {
		t.Errorf("data starts at %d, not 8-aligned", 8+n)
	}
	want := `{"dense0.bias":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"dense1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}`
	if got := strings.TrimRight(string(b[8:8+n]), " "); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	out, err := DecodeSafetensors("w", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, []model.Tensor{in[1], in[0]}) {
		t.Errorf("round trip: got %+v", out)
	}
	for _, cut := range []int{0, 7, 8 + int(n) - 1, len(b) - 1} {
		if _, err := DecodeSafetensors("w.safetensors", b[:cut]); err == nil || !strings.Contains(err.Error(), "w.safetensors") {
			t.Errorf("cut at %d: got %v, want an error naming the file", cut, err)
		}
	}
}
