// The sFlow v5 decoder (collect/sflow_decoder.hpp), with room for three agents: see
// flow_export_fuzz.hpp for the properties.
#include "collect/sflow_decoder.hpp"
#include "flow_export_fuzz.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  collect::SflowDecoder decoder(3);
  fuzz::decode_datagrams(decoder, data, size);
  return 0;
}
