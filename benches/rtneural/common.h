// What gru.cpp and dense.cpp share: reading the little-endian f32 files the Rust bench
// writes.
#pragma once

#include <fstream>
#include <vector>

static std::vector<float> read_floats(const char* path) {
    std::ifstream file(path, std::ios::binary | std::ios::ate);
    const auto bytes = static_cast<size_t>(file.tellg());
    std::vector<float> values(bytes / sizeof(float));
    file.seekg(0);
    file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
    return values;
}
