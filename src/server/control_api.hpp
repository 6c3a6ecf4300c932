// The control plane shared by the HTTP API and the WebSocket: processor parameters (any subset
// of H, T, k, X) and start/stop, generator parameters (rate, ips, protocols, ipPercent,
// protocolPercent) and start/stop. Validation is the text protocol's (EngineControl and
// Generator decide), and a rejected change changes nothing. Either target may be absent
// (`netpulse process` has no generator). Thread-safe.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>

#include "engine/params.hpp"
#include "generate/generator.hpp"

namespace netpulse::server {

// What a control call answers: an HTTP status and a JSON body ({"error":...} when not 2xx).
struct ApiResult {
  int status = 200;
  nlohmann::json body;
  bool ok() const { return status < 400; }
  static ApiResult error(int status, std::string message) {
    return {status, nlohmann::json{{"error", std::move(message)}}};
  }
};

class ControlApi {
 public:
  ControlApi(engine::EngineControl* processor, generate::Generator* generator)
      : processor_(processor), generator_(generator) {}


  // {"H":..,"T":..,"k":..,"X":..}, any subset; answers the parameters now in force.
  ApiResult set_processor_params(const nlohmann::json& patch);
  ApiResult start_processor();
  ApiResult stop_processor();
  // {"rate":..,"ips":..,"protocols":..,"ipPercent":..,"protocolPercent":..}, any subset;
  // a percent of null means uniform.
  ApiResult set_generator_params(const nlohmann::json& patch);
  ApiResult start_generator();
  ApiResult stop_generator();

  // {"running":true,"params":{...},"max_window":3600}; null when absent.
  nlohmann::json processor_json() const;
  // {"running":true,"params":{...},"records":...,"event_time":...}; null when absent.
  nlohmann::json generator_json() const;

 private:
  engine::EngineControl* processor_;
  generate::Generator* generator_;
  std::mutex mu_;  // one read-modify-write of the parameters at a time
};

nlohmann::json to_json(const engine::QueryParams& p);
nlohmann::json to_json(const generate::TrafficParams& p);

}  // namespace netpulse::server
