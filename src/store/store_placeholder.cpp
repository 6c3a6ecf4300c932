// Placeholder so the stage library exists before its first real source lands.
namespace netpulse::store {}
