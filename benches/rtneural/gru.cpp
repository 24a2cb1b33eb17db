// RTNeural's compile-time model of the effect network (GRU-8, then a dense layer to one
// output), for benches/rtneural.rs: loads the weights the Rust bench wrote (PyTorch
// layouts), streams the test signal once and writes the outputs (to check that both run
// the same math), then times the streaming loop and prints nanoseconds per sample.
//
// Built by the bench with g++ -O3 -std=c++17, once with the default target and once
// with -march=native; RTNeural and Eigen come from RTNEURAL_DIR. The layers are driven
// exactly as `RTNeural::ModelT::forward` drives them (ModelT.h itself pulls in the model
// loader, which needs a JSON library the vendored copy does not ship).
#include <RTNeural/Model.h>

#include "common.h"

#include <vector>

constexpr int F = 1;
constexpr int H = 8;

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: gru weights.f32 input.f32 output.f32\n");
        return 2;
    }
    // weight_ih [3H, F], weight_hh [3H, H], bias_ih [3H], bias_hh [3H] (rows r, z, n),
    // then the dense weight [1, H] and bias [1].
    const auto w = read_floats(argv[1]);
    const float* w_ih = w.data();
    const float* w_hh = w_ih + 3 * H * F;
    const float* b_ih = w_hh + 3 * H * H;
    const float* b_hh = b_ih + 3 * H;
    const float* d_w = b_hh + 3 * H;
    const float* d_b = d_w + H;

    // ModelT<float, 1, 1, GRULayerT<float, 1, 8>, DenseT<float, 8, 1>>, unrolled.
    struct Model {
        RTNeural::GRULayerT<float, F, H> gru;
        RTNeural::DenseT<float, H, 1> dense;
        void reset() {
            gru.reset();
            dense.reset();
        }
        float forward(const float* input) {
            const auto v_ins = Eigen::Matrix<float, F, 1>::Constant(input[0]);
            gru.forward(v_ins);
            dense.forward(gru.outs);
            return dense.outs(0);
        }
    } model;
    // RTNeural keeps Keras' gate order z, r, c: PyTorch's row of RTNeural's gate k.
    auto row = [](int k) { return k < H ? k + H : (k < 2 * H ? k - H : k); };
    std::vector<std::vector<float>> wv(F, std::vector<float>(3 * H));
    std::vector<std::vector<float>> uv(H, std::vector<float>(3 * H));
    std::vector<std::vector<float>> bv(2, std::vector<float>(3 * H));
    for (int k = 0; k < 3 * H; ++k) {
        for (int i = 0; i < F; ++i) wv[i][k] = w_ih[row(k) * F + i];
        for (int i = 0; i < H; ++i) uv[i][k] = w_hh[row(k) * H + i];
        bv[0][k] = b_ih[row(k)];
        bv[1][k] = b_hh[row(k)];
    }
    auto& gru = model.gru;
    gru.setWVals(wv);
    gru.setUVals(uv);
    gru.setBVals(bv);
    std::vector<std::vector<float>> dw(1, std::vector<float>(d_w, d_w + H));
    model.dense.setWeights(dw);
    model.dense.setBias(d_b);

    stream_and_time(model, read_floats(argv[2]), argv[3]);
    return 0;
}
