// Packets from libpcap: a capture file (pcap or pcapng, read as fast as possible or replayed at
// its original pace times a speed factor) or a live interface (snap length, promiscuous mode, a
// BPF filter, the kernel's drop counts). libpcap does the reading because it is the capture
// library every tool shares (tcpdump, tshark, nDPI's reader, softflowd): its file formats, its
// filters and its kernel ring are what operators expect. Not thread-safe, except interrupt()
// and stats(), which a controlling thread may call while another reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/packet_decode.hpp"

typedef struct pcap pcap_t;

namespace netpulse::capture {

struct PcapOptions {
  std::string filter;           // BPF expression (empty: every packet)
  int snaplen = 262144;         // bytes kept per packet (live; files keep what they hold)
  bool promiscuous = true;      // live
  size_t buffer_bytes = 64 << 20;  // live: the kernel ring (pcap_set_buffer_size)
  double speed = 0;             // files: 0 as fast as possible; N: N times the original pace
};

struct PcapStats {
  uint64_t received = 0;      // packets handed to the reader
  uint64_t kernel_drops = 0;  // live: dropped for lack of room in the ring (pcap_stats ps_drop)
  uint64_t if_drops = 0;      // live: dropped by the interface or driver (ps_ifdrop)
};

class PcapSource {
 public:
  // A capture file (pcap or pcapng; "-" is stdin). nullptr with a one-line reason on failure.
  static std::unique_ptr<PcapSource> open_file(const std::string& path, const PcapOptions& o,
                                               std::string* why);
  // A live interface. nullptr with a one-line reason (no such interface, no permission, ...).
  static std::unique_ptr<PcapSource> open_live(const std::string& iface, const PcapOptions& o,
                                               std::string* why);
  ~PcapSource();

  // Called for each packet: capture time in µs since the epoch, the bytes captured, and the
  // packet's length on the wire.
  using PacketFn = std::function<void(int64_t time_us, const uint8_t* data, uint32_t caplen,
                                      uint32_t len)>;

  enum class Read { kPackets, kIdle, kEnd, kError };
  // Reads up to max_packets packets (waits up to about 100 ms for a live one; paces a replay).
  // kIdle: nothing arrived in time (live, or non-blocking and the ring is empty), the replay is
  // waiting for a packet's time, or interrupt() was called; kEnd: the file is exhausted;
  // kError: error() says why.
  Read read(int max_packets, const PacketFn& fn);
  // Makes a read() waiting for packets return soon (kIdle). Thread-safe.
  void interrupt();
  // A live interface: the kernel adds no more packets to the ring (a filter that rejects
  // every packet replaces the capture's own), and those already in it are still read, so a stop
  // can drain exactly what had arrived. False for a file, or when the system refuses.
  bool close_to_new();

  core::LinkType link() const { return link_; }
  uint32_t linktype() const { return linktype_; }  // the pcap LINKTYPE_ value
  bool live() const { return live_; }
  std::string error() const;
  PcapStats stats();  // thread-safe

 private:
  PcapSource(pcap_t* p, bool live, const PcapOptions& o);
  bool setup(const PcapOptions& o, const std::string& name, std::string* why);

  std::unique_ptr<char[]> file_buffer_;  // the capture file's stdio buffer (outlives pcap_)
  pcap_t* pcap_ = nullptr;
  bool live_ = false;
  core::LinkType link_ = core::LinkType::kEthernet;
  uint32_t linktype_ = 0;
  double speed_ = 0;
  std::atomic<uint64_t> received_{0};
  mutable std::mutex mutex_;  // stats() against the reader
  PcapStats last_stats_;
  int64_t stats_read_us_ = 0;  // when pcap_stats was last read
  std::string error_;
  // Replay pacing: the first packet's capture time and the wall-clock time it was read at.
  int64_t replay_first_us_ = INT64_MIN;
  int64_t replay_wall_start_us_ = 0;
  // A packet read ahead, waiting for its replay time.
  bool pending_ = false;
  int64_t pending_time_us_ = 0;
  uint32_t pending_caplen_ = 0;
  uint32_t pending_len_ = 0;
  std::string pending_data_;
};

}  // namespace netpulse::capture
