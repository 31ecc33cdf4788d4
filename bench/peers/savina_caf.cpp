// savina_caf -- the five Savina programs of bench/savina.c on CAF 0.17
// (Debian's libcaf-dev), event-based actors on CAF's default scheduler,
// same parameters, same checks, same clock (DESIGN.md, "Savina").
//
//   pingpong   N = 40,000 pings, one at a time
//   counting   N = 1,000,000 increments, then a retrieve (CAF's mailboxes
//              are unbounded: one variant)
//   fjthrput   a driver sends N = 10,000 messages to each of A = 60 actors,
//              each costing sin(37.2)^2
//   big        W = 120 actors, N = 20,000 pings each to PseudoRandom(id)
//              neighbours, a sink
//   chameneos  C = 100 chameneos, M = 200,000 meetings through a mall
//
// "One thread": scheduler.max-threads = 1 and the process pinned to the
// first allowed CPU (where bench/savina puts its one shard); "all
// threads": max-threads = the allowed CPUs, unpinned (CAF 0.17 cannot pin
// a scheduled actor).  The clock starts as the start message is sent to
// the already spawned actors and stops when main receives "done".
//
// Usage: savina_caf                     every benchmark, both placements:
//                                       caf_savina_<name>_ms and
//                                       caf_savina_<name>_all_threads_ms
//        savina_caf <name> one|all [R [T]]  R runs (default 1) of one of them;
//                                       T: the all-threads run's threads
//                                       (default: one per allowed CPU)
// Built by `make bench-peers`: g++ -O2 -std=c++17 ... -lcaf_core.
#include <caf/all.hpp>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace caf;

namespace {

using start_atom = atom_constant<atom("start")>;
using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;
using stop_atom = atom_constant<atom("stop")>;
using inc_atom = atom_constant<atom("inc")>;
using get_atom = atom_constant<atom("get")>;
using result_atom = atom_constant<atom("result")>;
using work_atom = atom_constant<atom("work")>;
using done_atom = atom_constant<atom("done")>;
using meet_atom = atom_constant<atom("meet")>;
using change_atom = atom_constant<atom("change")>;
using exit_atom = atom_constant<atom("exit")>;
using count_atom = atom_constant<atom("count")>;

constexpr int64_t PINGPONG_N = 40000;
constexpr int64_t COUNTING_N = 1000000;
constexpr int FJ_ACTORS = 60;
constexpr int64_t FJ_N = 10000;
constexpr int BIG_ACTORS = 120;
constexpr int64_t BIG_N = 20000;
constexpr int CHAMENEOS_COUNT = 100;
constexpr int64_t CHAMENEOS_MEETINGS = 200000;

using clk = std::chrono::steady_clock;
using actors = std::shared_ptr<std::vector<actor>>;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "savina_caf: %s\n", what);
  std::exit(1);
}

actor sender_of(event_based_actor* self) {
  return actor_cast<actor>(self->current_sender());
}

// ------------------------------------------------------------ PingPong
struct ping_state {
  int64_t pings_left = PINGPONG_N;
};

behavior ping_actor(stateful_actor<ping_state>* self, actor pong) {
  auto go = [=] {
    if (self->state.pings_left > 0) {
      --self->state.pings_left;
      self->send(pong, ping_atom::value);
    } else {
      self->send(pong, stop_atom::value);
      self->quit();
    }
  };
  return {[=](start_atom) { go(); }, [=](pong_atom) { go(); }};
}

struct pong_state {
  int64_t pongs = 0;
};

behavior pong_actor(stateful_actor<pong_state>* self, actor main_actor) {
  return {
    [=](ping_atom) {
      ++self->state.pongs;
      self->send(sender_of(self), pong_atom::value);
    },
    [=](stop_atom) {
      self->send(main_actor, done_atom::value, self->state.pongs);
      self->quit();
    },
  };
}

int64_t run_pingpong(actor_system& sys, scoped_actor& main, clk::time_point& t0) {
  auto pong = sys.spawn(pong_actor, actor_cast<actor>(main));
  auto ping = sys.spawn(ping_actor, pong);
  t0 = clk::now();
  main->send(ping, start_atom::value);
  int64_t pongs = 0;
  main->receive([&](done_atom, int64_t n) { pongs = n; });
  return pongs == PINGPONG_N;
}

// ------------------------------------------------------------ Counting
behavior producer_actor(event_based_actor* self, actor counter, actor main_actor) {
  return {
    [=](start_atom) {
      for (int64_t i = 0; i < COUNTING_N; ++i)
        self->send(counter, inc_atom::value);
      self->send(counter, get_atom::value);
    },
    [=](result_atom, int64_t count) {
      self->send(main_actor, done_atom::value, count);
      self->quit();
    },
  };
}

struct counter_state {
  int64_t count = 0;
};

behavior counter_actor(stateful_actor<counter_state>* self) {
  return {
    [=](inc_atom) { ++self->state.count; },
    [=](get_atom) {
      self->send(sender_of(self), result_atom::value, self->state.count);
      self->quit();
    },
  };
}

int64_t run_counting(actor_system& sys, scoped_actor& main, clk::time_point& t0) {
  auto counter = sys.spawn(counter_actor);
  auto producer = sys.spawn(producer_actor, counter, actor_cast<actor>(main));
  t0 = clk::now();
  main->send(producer, start_atom::value);
  int64_t count = 0;
  main->receive([&](done_atom, int64_t n) { count = n; });
  return count == COUNTING_N;
}

// ------------------------------------------------------------ Fork-join throughput
volatile double g_theta = 37.2; // volatile: sin() is computed, not folded

struct fj_state {
  int64_t processed = 0;
};

behavior fj_actor(stateful_actor<fj_state>* self, actor driver) {
  return {
    [=](work_atom) {
      double sint = std::sin(g_theta);
      if (sint * sint <= 0) die("fjthrput: sin(37.2)^2 <= 0");
      if (++self->state.processed == FJ_N) {
        self->send(driver, done_atom::value);
        self->quit();
      }
    },
  };
}

struct fj_driver_state {
  int done = 0;
};

behavior fj_driver(stateful_actor<fj_driver_state>* self, actors workers, actor main_actor) {
  return {
    [=](start_atom) {
      for (int64_t m = 0; m < FJ_N; ++m)
        for (auto& w : *workers)
          self->send(w, work_atom::value);
    },
    [=](done_atom) {
      if (++self->state.done == FJ_ACTORS) {
        self->send(main_actor, done_atom::value, int64_t{self->state.done});
        self->quit();
      }
    },
  };
}

int64_t run_fjthrput(actor_system& sys, scoped_actor& main, clk::time_point& t0) {
  auto workers = std::make_shared<std::vector<actor>>();
  auto driver = sys.spawn(fj_driver, workers, actor_cast<actor>(main));
  for (int a = 0; a < FJ_ACTORS; ++a)
    workers->push_back(sys.spawn(fj_actor, driver));
  t0 = clk::now();
  main->send(driver, start_atom::value);
  int64_t done = 0;
  main->receive([&](done_atom, int64_t n) { done = n; });
  return done == FJ_ACTORS;
}

// ------------------------------------------------------------ Big
struct big_state {
  int64_t pings = 0;
  int32_t exp_pinger = -1;
  uint32_t random = 0; // Savina's PseudoRandom
  bool failed = false;
};

behavior big_actor(stateful_actor<big_state>* self, int32_t id, actors neighbors, actor sink) {
  self->state.random = (uint32_t)id;
  return {
    [=](ping_atom, int32_t from) { self->send((*neighbors)[from], pong_atom::value, id); },
    [=](pong_atom, int32_t from) {
      auto& st = self->state;
      if (from != st.exp_pinger) die("big: pong from an unexpected actor");
      if (st.pings == BIG_N) {
        self->send(sink, exit_atom::value);
        return;
      }
      st.random = (st.random * 1309u + 13849u) & 65535u;
      int32_t target = (int32_t)(st.random % BIG_ACTORS);
      st.exp_pinger = target;
      ++st.pings;
      self->send((*neighbors)[target], ping_atom::value, id);
    },
    [=](exit_atom) { self->quit(); },
  };
}

struct sink_state {
  int exits = 0;
};

behavior big_sink(stateful_actor<sink_state>* self, actors workers, actor main_actor) {
  return {
    [=](start_atom) {
      for (auto& w : *workers)
        self->send(w, pong_atom::value, int32_t{-1}); // Savina's PongMessage(-1)
    },
    [=](exit_atom) {
      if (++self->state.exits == BIG_ACTORS) {
        self->send(main_actor, done_atom::value, int64_t{self->state.exits});
        for (auto& w : *workers)
          self->send(w, exit_atom::value);
        self->quit();
      }
    },
  };
}

int64_t run_big(actor_system& sys, scoped_actor& main, clk::time_point& t0) {
  auto workers = std::make_shared<std::vector<actor>>();
  auto sink = sys.spawn(big_sink, workers, actor_cast<actor>(main));
  for (int32_t i = 0; i < BIG_ACTORS; ++i)
    workers->push_back(sys.spawn(big_actor, i, workers, sink));
  t0 = clk::now();
  main->send(sink, start_atom::value);
  int64_t exits = 0;
  main->receive([&](done_atom, int64_t n) { exits = n; });
  return exits == BIG_ACTORS;
}

// ------------------------------------------------------------ Chameneos
enum : int32_t { RED = 0, YELLOW = 1, BLUE = 2, FADED = 3 };

int32_t complement(int32_t mine, int32_t other) {
  if (mine == FADED || other == FADED) return FADED;
  return mine == other ? mine : 3 - mine - other;
}

struct mall_state {
  int64_t meetings_left = CHAMENEOS_MEETINGS;
  int faded = 0;
  int64_t sum = 0;
  actor waiting;
  int32_t waiting_color = 0;
};

behavior mall_actor(stateful_actor<mall_state>* self, actors chameneos, actor main_actor) {
  return {
    [=](start_atom) {
      for (auto& c : *chameneos)
        self->send(c, start_atom::value);
    },
    [=](meet_atom, int32_t color, actor who) {
      auto& st = self->state;
      if (st.meetings_left == 0) {
        self->send(who, exit_atom::value);
      } else if (!st.waiting) {
        st.waiting = who;
        st.waiting_color = color;
      } else {
        --st.meetings_left;
        self->send(st.waiting, meet_atom::value, color, who);
        st.waiting = nullptr;
      }
    },
    [=](count_atom, int64_t meetings) {
      auto& st = self->state;
      st.sum += meetings;
      if (++st.faded == CHAMENEOS_COUNT) {
        self->send(main_actor, done_atom::value, st.sum);
        self->quit();
      }
    },
  };
}

struct chameneo_state {
  int32_t color = 0;
  int64_t meetings = 0;
};

behavior chameneo_actor(stateful_actor<chameneo_state>* self, int32_t id, actor mall) {
  self->state.color = id % 3;
  auto to_mall = [=] {
    self->send(mall, meet_atom::value, self->state.color, actor_cast<actor>(self));
  };
  return {
    [=](start_atom) { to_mall(); },
    [=](meet_atom, int32_t other_color, actor other) {
      auto& st = self->state;
      st.color = complement(st.color, other_color);
      ++st.meetings;
      self->send(other, change_atom::value, st.color);
      to_mall();
    },
    [=](change_atom, int32_t color) {
      self->state.color = color;
      ++self->state.meetings;
      to_mall();
    },
    [=](exit_atom) {
      self->state.color = FADED;
      self->send(mall, count_atom::value, self->state.meetings);
      self->quit();
    },
  };
}

int64_t run_chameneos(actor_system& sys, scoped_actor& main, clk::time_point& t0) {
  auto chameneos = std::make_shared<std::vector<actor>>();
  auto mall = sys.spawn(mall_actor, chameneos, actor_cast<actor>(main));
  for (int32_t i = 0; i < CHAMENEOS_COUNT; ++i)
    chameneos->push_back(sys.spawn(chameneo_actor, i, mall));
  t0 = clk::now();
  main->send(mall, start_atom::value);
  int64_t sum = 0;
  main->receive([&](done_atom, int64_t n) { sum = n; });
  return sum == 2 * CHAMENEOS_MEETINGS;
}

// ------------------------------------------------------------ Runs
struct benchmark {
  const char* name;
  int run_count;
  int64_t (*run)(actor_system&, scoped_actor&, clk::time_point&);
};

const benchmark g_benchmarks[] = {
  {"pingpong", 5, run_pingpong}, {"counting", 5, run_counting},
  {"fjthrput", 5, run_fjthrput}, {"big", 3, run_big},
  {"chameneos", 5, run_chameneos},
};

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) die("sched_getaffinity failed");
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

// The calling thread's affinity: the scheduler's threads inherit it.
void pin_to(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus)
    CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pin failed");
}

// threads: the all-threads run's scheduler threads (0: one per allowed CPU).
double run_once(const benchmark& b, bool all, size_t threads, const std::vector<int>& cpus) {
  pin_to(all ? cpus : std::vector<int>{cpus[0]});
  actor_system_config cfg;
  cfg.set("scheduler.max-threads", all ? (threads ? threads : cpus.size()) : size_t{1});
  double ms = 0;
  {
    actor_system sys{cfg};
    scoped_actor main{sys};
    clk::time_point t0;
    if (!b.run(sys, main, t0)) {
      std::fprintf(stderr, "savina_caf: %s: the check failed\n", b.name);
      std::exit(1);
    }
    ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
  }
  pin_to(cpus);
  std::fprintf(stderr, "savina_caf: %s%s: %.2f ms\n", b.name, all ? " all threads" : "", ms);
  return ms;
}

double median_of(const benchmark& b, bool all, int runs, size_t threads,
                 const std::vector<int>& cpus) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i)
    ms.push_back(run_once(b, all, threads, cpus));
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  return n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
}

} // namespace

int main(int argc, char** argv) {
  auto cpus = allowed_cpus();
  if (cpus.empty()) die("no allowed CPU");
  std::fprintf(stderr, "savina_caf: placement: one thread on cpu %d; all threads: %zu on cpus",
               cpus[0], cpus.size());
  for (int cpu : cpus)
    std::fprintf(stderr, " %d", cpu);
  std::fprintf(stderr, " (unpinned within them)\n");
  if (argc >= 3) {
    for (auto& b : g_benchmarks) {
      if (std::strcmp(argv[1], b.name) != 0) continue;
      bool all = std::strcmp(argv[2], "all") == 0;
      int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
      size_t threads = argc > 4 ? (size_t)std::max(0, std::atoi(argv[4])) : 0;
      std::printf("caf_savina_%s%s_ms: %.2f ms\n", b.name, all ? "_all_threads" : "",
                  median_of(b, all, runs, threads, cpus));
      return 0;
    }
    die("usage: savina_caf [pingpong|counting|fjthrput|big|chameneos one|all [runs [threads]]]");
  }
  for (auto& b : g_benchmarks) {
    std::printf("caf_savina_%s_ms: %.2f ms\n", b.name, median_of(b, false, b.run_count, 1, cpus));
    std::printf("caf_savina_%s_all_threads_ms: %.2f ms\n", b.name,
                median_of(b, true, b.run_count, 0, cpus));
    std::fflush(stdout);
  }
  return 0;
}
