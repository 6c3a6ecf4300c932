// Runs a fuzz target over its corpus without libFuzzer: every file of the directories (or the
// files) given, each in a buffer of exactly its size (so a sanitizer build sees a read past the
// end). `scripts/test` runs each target's committed corpus this way (ctest fuzz_replay.*), with
// the ordinary compiler; bench/fuzz.sh builds the same targets with libFuzzer for campaigns.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs (give corpus directories or files)\n");
    return 2;
  }
  std::sort(files.begin(), files.end());
  size_t bytes = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::unique_ptr<uint8_t[]> buf(new uint8_t[std::max<size_t>(text.size(), 1)]);
    std::memcpy(buf.get(), text.data(), text.size());
    LLVMFuzzerTestOneInput(buf.get(), text.size());
    bytes += text.size();
  }
  std::printf("replayed %zu inputs, %zu bytes\n", files.size(), bytes);
  return 0;
}
