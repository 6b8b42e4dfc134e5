// store/maintenance: when the maintenance thread indexes and checkpoints, with fake tasks.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "store/maintenance.hpp"

using namespace runmirror;
using namespace std::chrono_literals;

namespace {

// Polls |done| for up to 5 s.
template <class Pred>
bool eventually(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

}  // namespace

TEST_CASE("maintenance: indexing waits for its delay, then one run for the whole batch") {
    std::atomic<int> indexed{0};
    store_maintenance m({[&] { ++indexed; }, [] {}}, {100, 100ms, "test"});
    m.runs_written(1);
    m.runs_written(1);
    CHECK(eventually([&] { return indexed == 1; }));
    std::this_thread::sleep_for(250ms);
    CHECK(indexed == 1);  // nothing more was written
    m.runs_written(1);
    CHECK(eventually([&] { return indexed == 2; }));
}

TEST_CASE("maintenance: a full batch is indexed at once, without waiting for the delay") {
    std::atomic<int> indexed{0};
    store_maintenance m({[&] { ++indexed; }, [] {}}, {3, std::chrono::hours(1), "test"});
    m.runs_written(2);
    std::this_thread::sleep_for(100ms);
    CHECK(indexed == 0);
    m.runs_written(1);
    CHECK(eventually([&] { return indexed == 1; }));
}

TEST_CASE("maintenance: checkpoints on request; a task that throws is tried again next time") {
    std::atomic<int> attempts{0};
    store_maintenance m({[] {},
                         [&] {
                             if (++attempts == 1) throw std::runtime_error("disk full");
                         }},
                        {100, std::chrono::hours(1), "test"});
    m.checkpoint_wanted();
    CHECK(eventually([&] { return attempts == 1; }));
    m.checkpoint_wanted();
    CHECK(eventually([&] { return attempts == 2; }));
}

TEST_CASE("maintenance: after stop, nothing runs") {
    std::atomic<int> calls{0};
    store_maintenance m({[&] { ++calls; }, [&] { ++calls; }}, {1, 1ms, "test"});
    m.stop();
    m.runs_written(5);
    m.checkpoint_wanted();
    std::this_thread::sleep_for(50ms);
    CHECK(calls == 0);
    m.stop();  // idempotent
}
