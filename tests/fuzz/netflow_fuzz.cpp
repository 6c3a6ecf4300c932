// The NetFlow v5, v9 and IPFIX decoder (collect/netflow_decoder.hpp), with small bounds so the
// held-data and template limits are reached: see flow_export_fuzz.hpp for the properties.
#include "collect/netflow_decoder.hpp"
#include "flow_export_fuzz.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  collect::NetflowDecoderOptions options;
  options.max_held_bytes_per_exporter = 4096;
  options.max_held_bytes_total = 8192;
  options.max_templates_per_exporter = 16;
  options.max_exporters = 3;
  collect::NetflowDecoder decoder(options);
  fuzz::decode_datagrams(decoder, data, size);
  return 0;
}
