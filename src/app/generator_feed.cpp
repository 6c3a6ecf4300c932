#include "app/generator_feed.hpp"

#include <algorithm>

namespace netpulse::app {

bool GeneratorFeed::begin(std::string_view header) {
  if (header.empty()) return true;
  return write(header.data(), header.size(), 0);
}

bool GeneratorFeed::write(const char* data, size_t size, uint64_t records) {
  std::unique_lock lock(mu_);
  writable_.wait(lock, [&] { return closed_ || pending_.size() < capacity_; });
  if (closed_) return false;
  const bool was_empty = pending_.empty();
  pending_.append(data, size);
  records_ += records;
  if (was_empty) readable_.notify_one();
  return true;
}

std::string GeneratorFeed::error() const {
  // One method serves both sides: for the engine a closed feed is a normal end, not a read
  // error; for the generator reader_gone() says the engine went away.
  return {};
}

bool GeneratorFeed::reader_gone() const {
  std::lock_guard lock(mu_);
  return closed_;
}

ingest::BlockSource::Next GeneratorFeed::next(ingest::Block& out,
                                              std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  readable_.wait_for(lock, timeout, [&] { return closed_ || !pending_.empty(); });
  if (pending_.empty()) return closed_ ? Next::kEnd : Next::kTimeout;
  auto block = std::make_shared<std::string>();
  block->swap(pending_);
  // The next block starts with room for twice what this one held (within the bound), so a
  // steady generator appends without regrowing; after a burst (the engine held up, text piling
  // up towards the bound) the room comes back down with the next block.
  pending_.reserve(std::min(std::max(block->size() * 2, kMinRoom), capacity_));
  lock.unlock();
  writable_.notify_all();
  out.data = block->data();
  out.size = block->size();
  // Its text, or the smallest room: the rest of a larger reservation was never written, so it
  // holds no memory.
  out.held = std::max(block->size(), kMinRoom);
  out.owner = std::move(block);
  if (observer_) observer_(out);
  return Next::kBlock;
}

void GeneratorFeed::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  readable_.notify_all();
  writable_.notify_all();
}

size_t GeneratorFeed::room() const {
  std::lock_guard lock(mu_);
  return pending_.capacity();
}

uint64_t GeneratorFeed::records_written() const {
  std::lock_guard lock(mu_);
  return records_;
}

}  // namespace netpulse::app
