package faceapi

import "fmt"

// landmarkChannels are the output channels of face-api's four dense blocks
// (src/faceFeatureExtractor): each halves the resolution, 112 → 7.
var landmarkChannels = []int64{32, 64, 128, 256}

// faceapiMeanRGB is the per-channel mean face-api (after dlib) subtracts
// before dividing by 255, in the landmark and recognition nets.
var faceapiMeanRGB = []float32{122.782, 117.001, 104.298}

func buildLandmark68(b *builder) {
	x := b.meanNormalized(LandmarkInputSize)
	for i, c := range landmarkChannels {
		x = b.denseBlock4(fmt.Sprintf("dense%d", i), x, c, i == 0)
	}
	x = b.pool("AveragePool", "avg_pool", x, 7, 2)
	cin := b.shape(x)[1]
	x = b.node("Flatten", "flatten", []int64{-1, cin}, []string{x})
	w := b.init("fc/W", []int64{cin, LandmarkOutputs}, b.weight("fc/weights", cin, LandmarkOutputs))
	bias := b.init("fc/B", []int64{LandmarkOutputs}, b.weight("fc/bias", LandmarkOutputs))
	out := b.node("Gemm", LandmarksName, []int64{-1, LandmarkOutputs}, []string{x, w, bias})
	b.output(out)
}

// meanNormalized declares the image input and returns (x - mean) / 255 in
// NCHW, face-api's normalize(x, meanRgb).div(255).
func (b *builder) meanNormalized(size int64) string {
	in := b.input(InputName, size)
	x := b.binary("Sub", "preprocess/sub_mean", in, b.init("preprocess/mean_rgb", []int64{3}, faceapiMeanRGB))
	x = b.binary("Div", "preprocess/div", x, b.scalar(255))
	return b.toNCHW("preprocess/nchw", x)
}

// denseBlock4 is face-api's denseBlock4 with scale-down: a stride-2 conv
// (plain 3×3 in the first block, separable otherwise) followed by three
// separable convs, each fed the ReLU of the sum of all earlier outputs.
func (b *builder) denseBlock4(prefix, x string, cout int64, first bool) string {
	var out1 string
	if first {
		out1 = b.conv(prefix+"/conv0", x, prefix+"/conv0/filters", prefix+"/conv0/bias", 3, cout, 2, same)
	} else {
		out1 = b.separable(prefix+"/conv0", x, cout, 2)
	}
	out1 = b.relu(prefix+"/out1", out1)
	out2 := b.separable(prefix+"/conv1", out1, cout, 1)
	in3 := b.relu(prefix+"/in3", b.binary("Add", prefix+"/sum3", out1, out2))
	out3 := b.separable(prefix+"/conv2", in3, cout, 1)
	// Sums nest as in face-api: out1 + (out2 + out3), then
	// out1 + (out2 + (out3 + out4)).
	in4 := b.binary("Add", prefix+"/sum4", out1, b.binary("Add", prefix+"/sum4a", out2, out3))
	in4 = b.relu(prefix+"/in4", in4)
	out4 := b.separable(prefix+"/conv3", in4, cout, 1)
	s := b.binary("Add", prefix+"/sum5b", out3, out4)
	s = b.binary("Add", prefix+"/sum5a", out2, s)
	s = b.binary("Add", prefix+"/sum5", out1, s)
	return b.relu(prefix+"/out", s)
}

// separable is tf.separableConv2d with 'same' padding plus a bias: a 3×3
// depthwise conv with the stride, then a 1×1 conv.
func (b *builder) separable(prefix, x string, cout, stride int64) string {
	d := b.depthwise(prefix+"/depthwise", x, prefix+"/depthwise_filter", stride)
	return b.conv(prefix+"/pointwise", d, prefix+"/pointwise_filter", prefix+"/bias", 1, cout, 1, same)
}
