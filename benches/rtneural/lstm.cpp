// RTNeural's compile-time LSTM models of the effect network's shape with an LSTM (one
// sample in, LSTM-8 or LSTM-20, then a dense layer to one output), for
// benches/rtneural.rs: loads the weights the Rust bench wrote (PyTorch layouts), streams
// the test signal once and writes the outputs (to check that both run the same math),
// then times the streaming loop and prints nanoseconds per sample for each size.
//
// Built by the bench as gru.cpp is. The weights load as RTNeural's `torch_helpers.h`
// loads an `nn.LSTM` (transposed, `bias_ih + bias_hh`), and the layers are driven
// exactly as `RTNeural::ModelT::forward` drives them.
#include <RTNeural/Model.h>

#include "common.h"

#include <string>
#include <vector>

constexpr int F = 1;

// ModelT<float, 1, 1, LSTMLayerT<float, 1, H>, DenseT<float, H, 1>>, unrolled.
template <int H>
struct Model {
    RTNeural::LSTMLayerT<float, F, H> lstm;
    RTNeural::DenseT<float, H, 1> dense;
    void reset() {
        lstm.reset();
        dense.reset();
    }
    float forward(const float* input) {
        const auto v_ins = Eigen::Matrix<float, F, 1>::Constant(input[0]);
        lstm.forward(v_ins);
        dense.forward(lstm.outs);
        return dense.outs(0);
    }
};

// Runs `prefix`.weights.f32 on the input, writes `prefix`.output.f32, prints nanoseconds
// per sample.
template <int H>
static void run(const std::string& prefix, const std::vector<float>& input) {
    // weight_ih [4H, F], weight_hh [4H, H], bias_ih [4H], bias_hh [4H] (rows i, f, g, o),
    // then the dense weight [1, H] and bias [1].
    const auto w = read_floats((prefix + ".weights.f32").c_str());
    const float* w_ih = w.data();
    const float* w_hh = w_ih + 4 * H * F;
    const float* b_ih = w_hh + 4 * H * H;
    const float* b_hh = b_ih + 4 * H;
    const float* d_w = b_hh + 4 * H;
    const float* d_b = d_w + H;

    static Model<H> model;
    std::vector<std::vector<float>> wv(F, std::vector<float>(4 * H));
    std::vector<std::vector<float>> uv(H, std::vector<float>(4 * H));
    std::vector<float> bv(4 * H);
    for (int k = 0; k < 4 * H; ++k) {
        for (int i = 0; i < F; ++i) wv[i][k] = w_ih[k * F + i];
        for (int i = 0; i < H; ++i) uv[i][k] = w_hh[k * H + i];
        bv[k] = b_ih[k] + b_hh[k];
    }
    model.lstm.setWVals(wv);
    model.lstm.setUVals(uv);
    model.lstm.setBVals(bv);
    std::vector<std::vector<float>> dw(1, std::vector<float>(d_w, d_w + H));
    model.dense.setWeights(dw);
    model.dense.setBias(d_b);

    stream_and_time(model, input, prefix + ".output.f32");
}

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: lstm input.f32 lstm8-prefix lstm20-prefix\n");
        return 2;
    }
    const auto input = read_floats(argv[1]);
    run<8>(argv[2], input);
    run<20>(argv[3], input);
    return 0;
}
