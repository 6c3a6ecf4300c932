// ThreadSanitizer builds only (NETPULSE_SANITIZE=thread): C11 threads, mutexes and condition
// variables (thrd_*, mtx_*, cnd_*) through their pthread counterparts.
//
// librdkafka starts its threads (brokers, the mock cluster, the background queue) with C11
// thrd_create. glibc's thrd_create calls its internal pthread_create, which GCC 12's
// ThreadSanitizer does not intercept, so those threads run without TSan's per-thread state and
// the first malloc they make crashes inside TSan's allocator (a SEGV at address 0x8..0xc38
// under "rdk:mock" or "rdk:broker"). Defined in the executable, this thrd_create takes the place
// of glibc's for librdkafka.so and goes through the intercepted pthread_create instead, so TSan
// sees the threads (and their synchronization) like any other. glibc's thrd_t is a pthread_t and
// its thrd_join converts pthread_join's void* result back to int, which the trampoline's return
// value matches. thrd_join and thrd_detach go the same way, or TSan reports every librdkafka
// thread it saw start as leaked. The same holds for mtx_* and cnd_*, which librdkafka's queues
// hand messages between threads with: through glibc's internal calls TSan does not see that
// synchronization and reports a consumed message's payload as a race; through the intercepted
// pthread calls it does. glibc's mtx_t and cnd_t have the size and alignment of pthread_mutex_t
// and pthread_cond_t (checked below).
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* trampoline(void* p) {
  const Start s = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(s.func(s.arg)));
}

}  // namespace

extern "C" int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* s = new (std::nothrow) Start{func, arg};
  if (s == nullptr) return thrd_nomem;
  const int rc = pthread_create(thr, nullptr, trampoline, s);
  if (rc == 0) return thrd_success;
  delete s;
  return rc == EAGAIN ? thrd_nomem : thrd_error;
}

extern "C" int thrd_join(thrd_t thr, int* res) {
  void* out = nullptr;
  if (pthread_join(thr, &out) != 0) return thrd_error;
  if (res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(out));
  return thrd_success;
}

extern "C" int thrd_detach(thrd_t thr) {
  return pthread_detach(thr) == 0 ? thrd_success : thrd_error;
}

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t) && alignof(mtx_t) == alignof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t) && alignof(cnd_t) == alignof(pthread_cond_t));

namespace {
pthread_mutex_t* pm(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* pc(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }
int result(int rc) { return rc == 0 ? thrd_success : rc == ETIMEDOUT ? thrd_timedout : rc == EBUSY ? thrd_busy : thrd_error; }
}  // namespace

extern "C" int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(pm(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return result(rc);
}
extern "C" int mtx_lock(mtx_t* m) { return result(pthread_mutex_lock(pm(m))); }
extern "C" int mtx_trylock(mtx_t* m) { return result(pthread_mutex_trylock(pm(m))); }
extern "C" int mtx_timedlock(mtx_t* __restrict m, const struct timespec* __restrict ts) {
  return result(pthread_mutex_timedlock(pm(m), ts));
}
extern "C" int mtx_unlock(mtx_t* m) { return result(pthread_mutex_unlock(pm(m))); }
extern "C" void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(pm(m)); }

extern "C" int cnd_init(cnd_t* c) { return result(pthread_cond_init(pc(c), nullptr)); }
extern "C" int cnd_signal(cnd_t* c) { return result(pthread_cond_signal(pc(c))); }
extern "C" int cnd_broadcast(cnd_t* c) { return result(pthread_cond_broadcast(pc(c))); }
extern "C" int cnd_wait(cnd_t* c, mtx_t* m) { return result(pthread_cond_wait(pc(c), pm(m))); }
extern "C" int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m,
                             const struct timespec* __restrict ts) {
  return result(pthread_cond_timedwait(pc(c), pm(m), ts));
}
extern "C" void cnd_destroy(cnd_t* c) { pthread_cond_destroy(pc(c)); }
