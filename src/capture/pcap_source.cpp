#include "capture/pcap_source.hpp"

#include <linux/filter.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace netpulse::capture {

namespace {

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t time_us(const pcap_pkthdr& h) {
  return static_cast<int64_t>(h.ts.tv_sec) * 1'000'000 + h.ts.tv_usec;
}

// A capture file is read through a stdio buffer this large (glibc's default, 4 KiB, costs a
// read() per 4 KiB).
constexpr size_t kFileBuffer = 1 << 20;

// A replay sleeps in slices this long at most, so a stop is seen quickly.
constexpr int64_t kMaxSleepUs = 100'000;

}  // namespace

PcapSource::PcapSource(pcap_t* p, bool live, const PcapOptions& o)
    : pcap_(p), live_(live), speed_(live ? 0 : o.speed) {}

PcapSource::~PcapSource() {
  if (pcap_) pcap_close(pcap_);
}

bool PcapSource::setup(const PcapOptions& o, const std::string& name, std::string* why) {
  linktype_ = static_cast<uint32_t>(pcap_datalink(pcap_));
  const auto link = core::link_type_from_pcap(linktype_);
  if (!link) {
    const char* dlt = pcap_datalink_val_to_name(static_cast<int>(linktype_));
    *why = name + ": link type " + std::to_string(linktype_) + (dlt ? std::string(" (") + dlt + ")" : "") +
           " is not one netpulse decodes (Ethernet, Linux cooked SLL/SLL2, raw IP, loopback)";
    return false;
  }
  link_ = *link;
  if (!o.filter.empty()) {
    bpf_program program{};
    if (pcap_compile(pcap_, &program, o.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      *why = name + ": --filter '" + o.filter + "': " + pcap_geterr(pcap_);
      return false;
    }
    const int rc = pcap_setfilter(pcap_, &program);
    pcap_freecode(&program);
    if (rc != 0) {
      *why = name + ": --filter '" + o.filter + "': " + pcap_geterr(pcap_);
      return false;
    }
  }
  return true;
}

std::unique_ptr<PcapSource> PcapSource::open_file(const std::string& path, const PcapOptions& o,
                                                  std::string* why) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // libpcap reads through stdio: a 1 MiB buffer takes the read() per 4 KiB out of the profile.
  FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!file) {
    *why = "pcap:" + path + ": " + std::strerror(errno);
    return nullptr;
  }
  // glibc ignores the size unless it is given the buffer; the source owns it and closes the
  // file (pcap_close) before freeing it.
  auto buffer = std::make_unique<char[]>(kFileBuffer);
  std::setvbuf(file, buffer.get(), _IOFBF, kFileBuffer);
  // Microsecond stamps whatever the file holds (nanosecond pcap and pcapng are scaled down).
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (!p) {
    if (file != stdin) std::fclose(file);
    *why = "pcap:" + path + ": " + errbuf;
    return nullptr;
  }
  std::unique_ptr<PcapSource> s(new PcapSource(p, false, o));
  s->file_buffer_ = std::move(buffer);
  if (!s->setup(o, "pcap:" + path, why)) return nullptr;
  return s;
}

std::unique_ptr<PcapSource> PcapSource::open_live(const std::string& iface, const PcapOptions& o,
                                                  std::string* why) {
  const std::string name = "pcap-live:" + iface;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_create(iface.c_str(), errbuf);
  if (!p) {
    *why = name + ": " + errbuf;
    return nullptr;
  }
  std::unique_ptr<PcapSource> s(new PcapSource(p, true, o));
  pcap_set_snaplen(p, o.snaplen);
  pcap_set_promisc(p, o.promiscuous ? 1 : 0);
  // Packets reach us in batches at most 100 ms apart: low latency without a wake-up per packet.
  pcap_set_timeout(p, 100);
  if (o.buffer_bytes > 0)
    pcap_set_buffer_size(p, static_cast<int>(std::min<size_t>(o.buffer_bytes, INT32_MAX)));
  const int rc = pcap_activate(p);
  if (rc < 0) {
    std::string reason = pcap_statustostr(rc);
    const char* detail = pcap_geterr(p);
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE) reason = "no such interface";
    if (rc == PCAP_ERROR_PERM_DENIED)
      reason = "permission denied (capture needs root or CAP_NET_RAW and CAP_NET_ADMIN)";
    if (detail && *detail && rc != PCAP_ERROR_NO_SUCH_DEVICE) reason += std::string(": ") + detail;
    *why = name + ": " + reason;
    return nullptr;
  }
  if (!s->setup(o, name, why)) return nullptr;
  // read() waits in poll() itself: libpcap's own wait (TPACKET_V3) can block for good on a
  // quiet link, and the capture must still end idle flows and see a stop.
  if (pcap_setnonblock(p, 1, errbuf) != 0 || pcap_get_selectable_fd(p) < 0) {
    *why = name + ": cannot read without blocking: " + errbuf;
    return nullptr;
  }
  return s;
}

PcapSource::Read PcapSource::read(int max_packets, const PacketFn& fn) {
  if (speed_ <= 0) {
    struct Ctx {
      const PacketFn* fn;
    } ctx{&fn};
    const auto dispatch = [&] {
      return pcap_dispatch(
          pcap_, max_packets,
          [](u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
            (*reinterpret_cast<Ctx*>(user)->fn)(time_us(*h), bytes, h->caplen, h->len);
          },
          reinterpret_cast<u_char*>(&ctx));
    };
    int n = dispatch();
    if (live_ && n == 0) {
      // Nothing in the ring: wait for the kernel to hand over a block (it does when one is
      // full, or 100 ms after its first packet), at most 100 ms, then look once more.
      pollfd pfd{pcap_get_selectable_fd(pcap_), POLLIN, 0};
      if (::poll(&pfd, 1, 100) > 0) n = dispatch();
    }
    if (n > 0) received_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    // pcap_stats reads (and resets) the kernel's counters, libpcap keeping the running sums, and
    // reads /proc/net/dev for the interface's: ten times a second is plenty. Only this thread
    // calls it; stats() hands out the last reading.
    const int64_t now = live_ ? wall_us() : 0;
    if (live_ && (n <= 0 || now - stats_read_us_ >= 100'000)) {
      stats_read_us_ = now;
      pcap_stat ps{};
      if (pcap_stats(pcap_, &ps) == 0) {
        std::lock_guard lock(mutex_);
        last_stats_.kernel_drops = ps.ps_drop;
        last_stats_.if_drops = ps.ps_ifdrop;
      }
    }
    if (n == PCAP_ERROR_BREAK) return Read::kIdle;  // interrupted: the caller looks at why
    if (n < 0) {
      std::lock_guard lock(mutex_);
      error_ = pcap_geterr(pcap_);
      return Read::kError;
    }
    if (n == 0) return live_ ? Read::kIdle : Read::kEnd;
    return Read::kPackets;
  }

  // A paced replay: each packet is handed out once the wall clock has moved as far past the
  // first packet's reading as its capture time has (divided by the speed).
  int done = 0;
  while (done < max_packets) {
    if (!pending_) {
      pcap_pkthdr* h = nullptr;
      const u_char* bytes = nullptr;
      const int rc = pcap_next_ex(pcap_, &h, &bytes);
      // A file's end (pcap_next_ex says PCAP_ERROR_BREAK for it; replays are files only).
      if (rc == PCAP_ERROR_BREAK) return done ? Read::kPackets : Read::kEnd;
      if (rc == PCAP_ERROR) {
        std::lock_guard lock(mutex_);
        error_ = pcap_geterr(pcap_);
        return done ? Read::kPackets : Read::kError;
      }
      if (rc != 1) return done ? Read::kPackets : Read::kEnd;
      pending_ = true;
      pending_time_us_ = time_us(*h);
      pending_caplen_ = h->caplen;
      pending_len_ = h->len;
      pending_data_.assign(reinterpret_cast<const char*>(bytes), h->caplen);
      if (replay_first_us_ == INT64_MIN) {
        replay_first_us_ = pending_time_us_;
        replay_wall_start_us_ = wall_us();
      }
    }
    const int64_t due = replay_wall_start_us_ +
                        static_cast<int64_t>(static_cast<double>(std::max<int64_t>(
                                                 0, pending_time_us_ - replay_first_us_)) /
                                             speed_);
    const int64_t now = wall_us();
    if (now < due) {
      if (done) return Read::kPackets;
      std::this_thread::sleep_for(std::chrono::microseconds(std::min(due - now, kMaxSleepUs)));
      return Read::kIdle;
    }
    pending_ = false;
    received_.fetch_add(1, std::memory_order_relaxed);
    fn(pending_time_us_, reinterpret_cast<const uint8_t*>(pending_data_.data()), pending_caplen_,
       pending_len_);
    ++done;
  }
  return Read::kPackets;
}

void PcapSource::interrupt() { pcap_breakloop(pcap_); }

bool PcapSource::close_to_new() {
  if (!live_) return false;
  // Set on the socket itself, not through pcap_setfilter: libpcap would run a new filter over
  // the packets already in the ring too, and this one would discard them.
  sock_filter reject_all{BPF_RET | BPF_K, 0, 0, 0};
  sock_fprog program{1, &reject_all};
  return ::setsockopt(pcap_fileno(pcap_), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) ==
         0;
}

std::string PcapSource::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

PcapStats PcapSource::stats() {
  std::lock_guard lock(mutex_);
  PcapStats s = last_stats_;
  s.received = received_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace netpulse::capture
