// store/group_commit: concurrent writes share a batch; each still succeeds or fails on its own,
// and nobody returns before the batch holding its write committed.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "store/group_commit.hpp"

using namespace runmirror;

namespace {

// A batch function that applies every write and records the batch sizes. The first batch waits
// until |release| is set, so that the test can queue writes behind it.
struct recorder {
    std::mutex mutex;
    std::condition_variable cv;
    bool release = true;
    bool in_first = false;
    std::vector<std::size_t> sizes;
    std::atomic<int> committed{0};

    void operator()(const std::vector<group_commit::write*>& batch) {
        std::unique_lock lock(mutex);
        const bool first = sizes.empty();
        sizes.push_back(batch.size());
        if (first) {
            in_first = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
        }
        lock.unlock();
        for (group_commit::write* w : batch) {
            try {
                w->apply();
            } catch (...) {
                w->error = std::current_exception();
            }
        }
        committed += static_cast<int>(batch.size());
    }
};

}  // namespace

TEST_CASE("group commit: a write alone commits alone, at once") {
    recorder r;
    group_commit commits([&](const auto& batch) { r(batch); });
    int applied = 0;
    commits.run([&] { ++applied; });
    CHECK(applied == 1);
    CHECK(r.sizes == std::vector<std::size_t>{1});
}

TEST_CASE("group commit: writes queued behind a commit share the next one") {
    recorder r;
    r.release = false;
    group_commit commits([&](const auto& batch) { r(batch); });
    std::atomic<int> applied{0};
    std::jthread leader([&] { commits.run([&] { ++applied; }); });
    {
        std::unique_lock lock(r.mutex);
        r.cv.wait(lock, [&] { return r.in_first; });
    }
    std::vector<std::jthread> followers;
    for (int k = 0; k < 3; ++k)
        followers.emplace_back([&] { commits.run([&] { ++applied; }); });
    // Nobody returns while their batch has not committed.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(applied == 0);
    {
        std::lock_guard lock(r.mutex);
        r.release = true;
    }
    r.cv.notify_all();
    leader.join();
    followers.clear();  // joins
    CHECK(applied == 4);
    REQUIRE(r.sizes.size() == 2);
    CHECK(r.sizes[0] == 1);
    CHECK(r.sizes[1] == 3);
}

TEST_CASE("group commit: a failed write fails alone; a failed batch fails every write in it") {
    recorder r;
    group_commit commits([&](const auto& batch) { r(batch); });
    CHECK_THROWS_AS(commits.run([] { throw std::invalid_argument("bad write"); }),
                    std::invalid_argument);
    int applied = 0;
    commits.run([&] { ++applied; });
    CHECK(applied == 1);

    group_commit failing([](const auto&) { throw std::runtime_error("disk full"); });
    CHECK_THROWS_WITH_AS(failing.run([] {}), "disk full", std::runtime_error);
}
