#include "store/group_commit.hpp"

namespace runmirror {

void group_commit::run(std::function<void()> apply) {
    write mine{std::move(apply), nullptr, false};
    std::unique_lock lock(mutex_);
    queue_.push_back(&mine);
    cv_.wait(lock, [&] { return mine.done || !leading_; });
    if (!mine.done) {
        // No batch in progress: this caller commits everything queued, its own write first
        // among any that came before it.
        leading_ = true;
        std::vector<write*> batch;
        batch.swap(queue_);
        lock.unlock();
        std::exception_ptr failed;
        try {
            commit_(batch);
        } catch (...) {
            failed = std::current_exception();
        }
        lock.lock();
        for (write* w : batch) {
            if (failed) w->error = failed;
            w->done = true;
        }
        leading_ = false;
        // The followers of this batch return; one of those queued meanwhile leads the next.
        cv_.notify_all();
    }
    lock.unlock();
    if (mine.error) std::rethrow_exception(mine.error);
}

}  // namespace runmirror
