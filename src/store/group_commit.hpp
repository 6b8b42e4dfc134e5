#pragma once
// Group commit: concurrent writes share one transaction, so that the pages every write touches
// (the database header, counters, the hot leaf of each index) go to the WAL once per commit
// rather than once per write (bench/write_cost.cpp --concurrency).
//
// Leader and followers: a caller of run() that finds no commit in progress becomes the leader
// and commits every write queued at that moment, its own among them, as one batch; writes
// queued while that batch commits wait and form the next batch, led by one of them. Nobody
// waits for company: a write that arrives alone commits alone, as before.
//
// Threading: run() may be called from any thread. Not reentrant: a write must not call run().
// Errors: run() returns only when its batch has committed, and throws what its write threw
// (then only that write was undone) or what failed the batch as a whole (then none of it
// committed).

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

namespace runmirror {

class group_commit {
  public:
    // One queued write.
    struct write {
        std::function<void()> apply;  // called inside the batch's transaction
        std::exception_ptr error;     // set by the batch function for a write that failed
        bool done = false;
    };
    // Applies every write of a batch in one transaction, each on its own (a write that throws
    // is undone alone and its error recorded in it), then commits. Throws when the batch as a
    // whole could not be committed.
    using batch_function = std::function<void(const std::vector<write*>&)>;

    explicit group_commit(batch_function commit) : commit_(std::move(commit)) {}

    // Queues |apply| and returns once the batch holding it committed.
    void run(std::function<void()> apply);

  private:
    batch_function commit_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<write*> queue_;
    bool leading_ = false;  // a batch is being committed
};

}  // namespace runmirror
