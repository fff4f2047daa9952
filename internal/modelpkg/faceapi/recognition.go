package faceapi

import "github.com/everify/everify/internal/modelpkg/onnxgraph"

// recognitionBlocks is face-api's port of dlib's ResNet-34-style face
// descriptor (src/faceRecognitionNet): residual layers by weight prefix;
// down-sampling layers halve the resolution and may widen the channels.
var recognitionBlocks = []struct {
	prefix string
	cout   int64
	down   bool
}{
	{"conv32_1", 32, false}, {"conv32_2", 32, false}, {"conv32_3", 32, false},
	{"conv64_down", 64, true}, {"conv64_1", 64, false}, {"conv64_2", 64, false}, {"conv64_3", 64, false},
	{"conv128_down", 128, true}, {"conv128_1", 128, false}, {"conv128_2", 128, false},
	{"conv256_down", 256, true}, {"conv256_1", 256, false}, {"conv256_2", 256, false},
	{"conv256_down_out", 256, true},
}

func buildRecognition(b *builder) {
	x := b.meanNormalized(RecognitionInputSize)
	x = b.scaledConv("conv32_down", x, 7, 32, 2, valid)
	x = b.relu("conv32_down/relu", x)
	x = b.pool("MaxPool", "max_pool", x, 3, 2)
	for _, blk := range recognitionBlocks {
		x = b.residual(blk.prefix, x, blk.cout, blk.down)
	}
	c := b.shape(x)[1]
	x = b.node("ReduceMean", "global_avg", []int64{-1, c}, []string{x},
		onnxgraph.AInts("axes", 2, 3), onnxgraph.AInt("keepdims", 0))
	fc := b.init("fc/W", []int64{c, DescriptorDim}, b.weight("fc", c, DescriptorDim))
	out := b.node("MatMul", DescriptorName, []int64{-1, DescriptorDim}, []string{x, fc})
	b.output(out)
}

// scaledConv is face-api's recognition convLayer without the ReLU: conv
// plus bias, then the per-channel scale layer (x * weights + biases).
func (b *builder) scaledConv(prefix, x string, k, cout, stride int64, p padding) string {
	y := b.conv(prefix+"/conv", x, prefix+"/conv/filters", prefix+"/conv/bias", k, cout, stride, p)
	y = b.binary("Mul", prefix+"/scale/mul", y, b.channelVector(prefix+"/scale/W", prefix+"/scale/weights", cout))
	return b.binary("Add", prefix+"/scale/add", y, b.channelVector(prefix+"/scale/B", prefix+"/scale/biases", cout))
}

// residual is face-api's residual (down false) or residualDown layer. The
// down variant uses 3×3 stride-2 valid convs and a 2×2 average pool on the
// shortcut; when the conv path comes out one cell smaller it is padded with
// zeros at the bottom and right, and a wider conv path gets a shortcut
// padded with zero channels.
func (b *builder) residual(prefix, x string, cout int64, down bool) string {
	var y string
	if down {
		y = b.scaledConv(prefix+"/conv1", x, 3, cout, 2, valid)
	} else {
		y = b.scaledConv(prefix+"/conv1", x, 3, cout, 1, same)
	}
	y = b.relu(prefix+"/conv1/relu", y)
	y = b.scaledConv(prefix+"/conv2", y, 3, cout, 1, same)
	shortcut := x
	if down {
		shortcut = b.pool("AveragePool", prefix+"/avg_pool", x, 2, 2)
		ps, ys := b.shape(shortcut), b.shape(y)
		if ps[2] != ys[2] || ps[3] != ys[3] {
			y = b.padEnd(prefix+"/pad_hw", y, [4]int64{0, 0, 1, 1})
		}
		if ps[1] != ys[1] {
			shortcut = b.padEnd(prefix+"/pad_c", shortcut, [4]int64{0, ys[1] - ps[1], 0, 0})
		}
	}
	return b.relu(prefix+"/relu", b.binary("Add", prefix+"/add", shortcut, y))
}
