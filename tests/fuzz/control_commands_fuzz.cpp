// The text control protocols (spec section 5): the processor's "start | stop | change H T k X"
// and the generator's commands, one line each, from a control port any client can reach.
// Every line of the input is given to both. Properties: every reply is one line, "ok" or
// "error: ..." (or the generator's "ok <status>"); the parameters in
// force are always valid, whatever was asked; a change the parser accepts is a valid one.
#include <string>

#include "engine/params.hpp"
#include "fuzz_check.hpp"
#include "generate/control_command.hpp"
#include "generate/generator.hpp"
#include "generate/traffic_params.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::string_view text = in.rest();
  engine::EngineControl control(engine::QueryParams{}, 3600);
  static generate::Generator generator{generate::GeneratorConfig{}};
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;

    const std::string reply = engine::handle_processor_command(line, control);
    FUZZ_CHECK(reply == "ok" || reply.rfind("error: ", 0) == 0);
    FUZZ_CHECK(reply.find('\n') == std::string::npos);
    FUZZ_CHECK(engine::validate(control.params(), control.max_window()).ok());

    const generate::TrafficParams before = generator.params();
    const generate::ChangeResult change = generate::parse_change_command(line, before);
    if (change.params) FUZZ_CHECK(!generate::validate(*change.params));
    else FUZZ_CHECK(!change.error.empty());
    const std::string g = generate::handle_generator_command(line, generator);
    FUZZ_CHECK(g == "ok" || g.rfind("ok ", 0) == 0 || g.rfind("error: ", 0) == 0);
    FUZZ_CHECK(g.find('\n') == std::string::npos);
    FUZZ_CHECK(!generate::validate(generator.params()));
  }
  return 0;
}
