// The store at scale (schema/004): bodies compressed at rest yet returned byte for byte, search
// on a contentless index computed in C++, list totals from kept counts, and the migration that
// upgrades a version-3 store without losing anything.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "store/body_codec.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::on_each_store;
using runmirror::testing::temp_dir;

namespace {

const time_point fetched = from_unix_ms(1'700'000'000'000);

// A realistic run body: long enough to be compressed, with the number and string forms a
// re-serialiser would change.
std::string tricky_body(const std::string& id, const std::string& word) {
    std::string line_items;
    for (int i = 0; i < 20; ++i) {
        if (i) line_items += ',';
        line_items += R"({"description":"Stainless steel hex bolts M8x40","quantity":)" +
                      std::to_string(i) + R"(,"unit_price":12.50,"amount":1.0e+2})";
    }
    return R"({"id":")" + id +
           R"(","project_id":"proj-1","extraction_agent_id":"agent-1","status":"SUCCESS",)"
           R"("job_id":"job-)" +
           id + R"(","created_at":"2025-01-01T00:00:00Z","file":{"id":"f","name":")" + id +
           R"(.pdf"},"data":{"word":")" + word +
           R"(","big":123456789012345678901234567890,"exp":1.0e+2,"neg_zero":-0.0,)"
           R"("esc":"Z\u00fcrich \"quoted\" \/ \n tab\t","line_items":[)" +
           line_items + R"(]},"extraction_metadata":{"note":"outsideword"}   })";
}

run_fields fields_of(const std::string& body) {
    auto [fields, err] = parse_run(body);
    REQUIRE_FALSE(err);
    return fields;
}

run_browse_query searching(std::string text) {
    run_browse_query q;
    q.search = std::move(text);
    return q;
}

std::vector<std::string> found(store& s, std::string text) {
    std::vector<std::string> out;
    for (const stored_run& r : s.browse_runs(searching(std::move(text))).items)
        out.push_back(r.fields.id);
    return out;
}

run_query tenant_query(std::string agent = "", std::string project = "") {
    run_query q;
    q.tenant = "tenant";
    q.extraction_agent_id = std::move(agent);
    q.project_id = std::move(project);
    q.limit = 1000;
    return q;
}

// Frames as earlier versions wrote them, byte for byte, for the text golden_body(). Stores hold
// such bytes and must read them for as long as they exist.
std::string golden_body() {
    return R"({"id":"golden","status":"SUCCESS","data":{"vendor":"Acme Acme Acme","total":1.0e+2,)"
           R"("items":["bolt","bolt","bolt","bolt","bolt"]},"note":"Z\u00fcrich Zürich","lines":[)"
           R"("Stainless steel hex bolts M8x40, box of 200","Stainless steel hex bolts M8x40, )"
           R"(box of 200","Stainless steel hex bolts M8x40, box of 200"]})";
}

// Schema 004 before LZ4: zstd level 3 with its content checksum (175 bytes).
const std::string zstd_golden = std::string(
    "\x28\xb5\x2f\xfd\x64\x32\x00\x0d\x05\x00\x62\xca\x22\x25\x80\xb5\xcd\x01\x7d\x46\x62\x24\xd6"
    "\x56"
    "\x76\x63\x8b\xa9\x25\x35\xc4\xa2\xc9\x9a\x47\x5b\xe4\x50\x61\x3d\x1b\xad\x1b\xab\x09\x32\x66"
    "\x09"
    "\x67\x00\x80\x53\xb2\x57\xca\x50\x46\x6a\x24\x15\x5d\x65\x88\x0e\x0a\x9d\x1a\x71\xa3\x90\xb9"
    "\xa7"
    "\xce\xc9\x30\xbe\xd6\x8c\xe3\x83\xdf\x13\x14\x20\xda\x2c\xef\x59\x18\xa5\xa0\x00\xe4\xeb\xdc"
    "\x32"
    "\x7e\xa7\x64\xdf\x50\x2a\x07\x58\x9f\x0e\xf7\xfb\x1a\x03\x56\x84\xc2\x3a\x6c\x2d\xfb\x7b\x65"
    "\x67"
    "\x41\x7c\xfd\x91\x2e\xf2\xc0\xa5\xf5\xd6\xcd\x7d\xcf\x58\xe2\x38\x16\xec\xeb\x13\xea\xd6\xf3"
    "\xfb"
    "\xc8\x0e\x4a\x81\xaf\xbb\x77\x29\x06\x00\x31\xea\x30\x62\x18\x73\x42\x1b\x57\xd6\x11\x95\x40"
    "\x12"
    "\x5a\xd9\x03\xa5\x95\x20\xa6",
    175);

// Since LZ4: an LZ4 frame with content size and content checksum, 64 KiB blocks (222 bytes).
const std::string lz4_golden = std::string(
    "\x04\x22\x4d\x18\x6c\x40\x32\x01\x00\x00\x00\x00\x00\x00\xa7\xc3\x00\x00\x00\xf5\x2a\x7b\x22"
    "\x69"
    "\x64\x22\x3a\x22\x67\x6f\x6c\x64\x65\x6e\x22\x2c\x22\x73\x74\x61\x74\x75\x73\x22\x3a\x22\x53"
    "\x55"
    "\x43\x43\x45\x53\x53\x22\x2c\x22\x64\x61\x74\x61\x22\x3a\x7b\x22\x76\x65\x6e\x64\x6f\x72\x22"
    "\x3a"
    "\x22\x41\x63\x6d\x65\x20\x05\x00\xff\x12\x22\x2c\x22\x74\x6f\x74\x61\x6c\x22\x3a\x31\x2e\x30"
    "\x65"
    "\x2b\x32\x2c\x22\x69\x74\x65\x6d\x73\x22\x3a\x5b\x22\x62\x6f\x6c\x74\x22\x2c\x07\x00\x08\xf0"
    "\x0b"
    "\x5d\x7d\x2c\x22\x6e\x6f\x74\x65\x22\x3a\x22\x5a\x5c\x75\x30\x30\x66\x63\x72\x69\x63\x68\x20"
    "\x5a"
    "\xc3\xbc\x08\x00\x71\x22\x2c\x22\x6c\x69\x6e\x65\x4b\x00\xf0\x05\x53\x74\x61\x69\x6e\x6c\x65"
    "\x73"
    "\x73\x20\x73\x74\x65\x65\x6c\x20\x68\x65\x78\x20\x5f\x00\xff\x06\x73\x20\x4d\x38\x78\x34\x30"
    "\x2c"
    "\x20\x62\x6f\x78\x20\x6f\x66\x20\x32\x30\x30\x22\x2c\x2e\x00\x45\x50\x30\x30\x22\x5d\x7d\x00"
    "\x00"
    "\x00\x00\x69\xd5\x74\x8e",
    222);

}  // namespace

TEST_CASE("body codec: every byte string comes back unchanged") {
    std::mt19937 rng(7);
    std::vector<std::string> samples = {"", "{}", std::string("\0\xff\x80 tail", 8),
                                        std::string(100'000, 'a'), tricky_body("r", "w")};
    for (int n : {1, 63, 64, 65, 1000, 70'000}) {
        std::string random(static_cast<std::size_t>(n), '\0');
        for (char& c : random)
            c = static_cast<char>(rng());
        samples.push_back(random);  // incompressible: kept as text
    }
    for (const std::string& text : samples) {
        CAPTURE(text.size());
        const packed_body packed = pack_body(text);
        CHECK(unpack_body(packed.bytes, packed.compressed) == text);
        if (packed.compressed) CHECK(packed.bytes.size() < text.size());
    }
    // Run JSON compresses well.
    CHECK(pack_body(tricky_body("r", "w")).compressed);
    CHECK(pack_body(tricky_body("r", "w")).bytes.size() * 3 < tricky_body("r", "w").size());
    CHECK(pack_body(std::string(100'000, 'a')).bytes.size() < 1000);
}

TEST_CASE("body codec: body_equals says whether stored bytes are a given text") {
    const std::string text = tricky_body("r", "w");
    for (const std::string& stored : {text, std::string("{}"), std::string(100'000, 'a')}) {
        const packed_body packed = pack_body(stored);
        CAPTURE(stored.size());
        CHECK(body_equals(packed.bytes, packed.compressed, stored));
        CHECK_FALSE(body_equals(packed.bytes, packed.compressed, stored + " "));
        std::string same_size = stored;
        same_size[same_size.size() / 2] ^= 1;  // one bit, same length: decoded and compared
        CHECK_FALSE(body_equals(packed.bytes, packed.compressed, same_size));
    }
}

TEST_CASE("body codec: a damaged frame is an error") {
    // New frames (LZ4) and the zstd frames of older stores alike.
    for (const std::string& frame : {pack_body(tricky_body("r", "w")).bytes, zstd_golden}) {
        CAPTURE(frame.substr(0, 4));
        CHECK_THROWS_AS(unpack_body(frame.substr(0, frame.size() - 3), true), store_error);
        CHECK_THROWS_AS(unpack_body(frame.substr(0, 6), true), store_error);
        CHECK_THROWS_AS(unpack_body(frame + "x", true), store_error);
        CHECK_THROWS_AS(unpack_body(frame + frame, true), store_error);
        std::string header = frame;
        header[4] ^= 0x40;  // the frame descriptor's flags
        CHECK_THROWS_AS(unpack_body(header, true), store_error);
    }
    CHECK_THROWS_AS(unpack_body("not a compressed frame", true), store_error);
    CHECK_THROWS_AS(unpack_body("", true), store_error);
    CHECK_THROWS_AS(unpack_body(std::string("\x04\x22\x4d", 3), true), store_error);
    // An LZ4 frame without its content size is not one the store wrote.
    CHECK_THROWS_AS(unpack_body(std::string("\x04\x22\x4d\x18\x60\x40\x82\0\0\0\0", 11), true),
                    store_error);
    // A changed content size (the frame header's own checksum catches it), or blocks cut short
    // of it.
    std::string longer = lz4_golden;
    longer[6] = static_cast<char>(longer[6] + 1);  // content size, low byte
    CHECK_THROWS_AS(unpack_body(longer, true), store_error);
    std::string cut = lz4_golden;
    cut[15] = static_cast<char>(cut[15] - 1);  // the block's size, low byte
    CHECK_THROWS_AS(unpack_body(cut, true), store_error);
    // zstd checks its content checksum as it decodes: a changed byte anywhere is an error.
    std::string flipped = zstd_golden;
    flipped[flipped.size() / 2] ^= 0x55;
    CHECK_THROWS_AS(unpack_body(flipped, true), store_error);
}

TEST_CASE("body codec: new bodies are LZ4 frames; zstd frames of older stores still read") {
    const packed_body packed = pack_body(golden_body());
    REQUIRE(packed.compressed);
    CHECK(packed.bytes.substr(0, 4) == std::string("\x04\x22\x4d\x18", 4));
    CHECK(unpack_body(lz4_golden, true) == golden_body());
    CHECK(unpack_body(zstd_golden, true) == golden_body());
    // A body kept as text before compression existed (TEXT column).
    CHECK(unpack_body(golden_body(), false) == golden_body());
}

TEST_CASE("search text: strings and numbers under data, as written") {
    CHECK(
        search_data_text(R"({"data":{"a":"Z\u00fcrich","n":[1.0e+2,-0.0,12345678901234567890123],)"
                         R"("b":true,"z":null,"o":{"deep":"x y"}},"other":"no"})") ==
        "Zürich 1.0e+2 -0.0 12345678901234567890123 x y");
    CHECK(search_data_text(R"({"data":"just text","x":1})") == "just text");
    CHECK(search_data_text(R"({"x":{"data":"nested, not the run's"}})").empty());
    CHECK(search_data_text(R"({"data":null})").empty());
    CHECK(search_data_text(R"({"data":{"a":"first"},"data":{"a":"second"}})") == "first");
    CHECK(search_data_text("{not json").empty());
    CHECK(search_data_text("").empty());
    CHECK(search_data_text(R"({"data":{"a":"x"}} trailing)").empty());
}

TEST_CASE("store scale: bodies come back byte for byte through every read" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        const std::string body = tricky_body("r1", "needle");
        const run_fields f = fields_of(body);
        s.put_runs({{f, body}}, fetched);
        s.grant("tenant", {"proj-1"});

        REQUIRE(s.find_run("r1"));
        CHECK(s.find_run("r1")->body == body);
        REQUIRE(s.find_run_by_job("job-r1"));
        CHECK(s.find_run_by_job("job-r1")->body == body);
        const run_page page = s.list_runs(tenant_query("agent-1"));
        REQUIRE(page.items.size() == 1);
        CHECK(page.items[0].body == body);
        CHECK(page.total == 1);
        run_browse_query q;
        q.with_bodies = true;
        const run_browse_page browsed = s.browse_runs(q);
        REQUIRE(browsed.items.size() == 1);
        CHECK(browsed.items[0].body == body);

        // Bytes the codec leaves alone (short, or not JSON at all) round-trip as well.
        for (std::string odd : {std::string("x"), std::string(""), std::string("\0\xfe", 2)}) {
            run_fields o = f;
            o.id = "odd";
            s.put_run(o, odd, fetched);
            CHECK(s.find_run("odd")->body == odd);
        }
    });
}

TEST_CASE("store scale file: bodies are compressed at rest") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    const std::string body = tricky_body("r1", "needle");
    open_sqlite_store(path)->put_run(fields_of(body), body, fetched);
    sqlite::database db(path);
    sqlite::statement s(db, "SELECT typeof(body), length(body) FROM runs WHERE id = 'r1'");
    REQUIRE(s.step());
    CHECK(s.column_text(0) == "blob");
    CHECK(static_cast<std::size_t>(s.column_int64(1)) * 3 < body.size());
}

TEST_CASE("store scale file: runs stored as zstd or as text by older versions read unchanged") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    // Three runs of one body; then, as an older version would have left them on disk, one
    // body is made a zstd frame (schema 004 before LZ4) and one plain TEXT (before 004).
    std::string body = golden_body();
    auto with_id = [&](const std::string& id) {
        std::string b = body;
        b.replace(b.find("golden"), 6, id);
        return b;
    };
    {
        auto s = open_sqlite_store(path);
        for (const char* id : {"zstd", "text", "lz4zz"}) {
            const std::string b = with_id(id);
            run_fields f = fields_of(b);
            f.extraction_agent_id = "agent-1";
            f.project_id = "proj-1";
            f.job_id = std::string("job-") + id;
            f.created_at = std::string("2025-01-0") + (id[0] == 'z'   ? "3"
                                                       : id[0] == 't' ? "2"
                                                                      : "1");
            s->put_run(f, b, fetched);
        }
        s->grant("tenant", {"proj-1"});
    }
    {
        sqlite::database db(path);
        sqlite::statement z(db, "UPDATE runs SET body = ?1 WHERE id = 'golden'");
        // The golden frame's run id is "golden": store it under that id and compare.
        sqlite::statement rename(db, "UPDATE runs SET id = 'golden' WHERE id = 'zstd'");
        rename.run();
        z.bind_blob(1, zstd_golden);
        z.run();
        sqlite::statement t(db, "UPDATE runs SET body = ?1 WHERE id = 'text'");
        t.bind_text(1, with_id("text"));
        t.run();
        sqlite::statement kinds(db,
                                "SELECT id, typeof(body), hex(substr(body, 1, 4)) FROM runs"
                                " ORDER BY id");
        std::vector<std::string> seen;
        while (kinds.step())
            seen.push_back(kinds.column_text(0) + " " + kinds.column_text(1) + " " +
                           kinds.column_text(2));
        CHECK(seen == std::vector<std::string>{"golden blob 28B52FFD", "lz4zz blob 04224D18",
                                               "text text 7B226964"});
    }
    auto s = open_sqlite_store(path);
    REQUIRE(s->find_run("golden"));
    CHECK(s->find_run("golden")->body == golden_body());
    CHECK(s->find_run("text")->body == with_id("text"));
    CHECK(s->find_run("lz4zz")->body == with_id("lz4zz"));
    REQUIRE(s->find_run_by_job("job-zstd"));
    CHECK(s->find_run_by_job("job-zstd")->body == golden_body());
    const run_page page = s->list_runs(tenant_query("agent-1"));
    REQUIRE(page.items.size() == 3);
    CHECK(page.items[0].body == golden_body());
    CHECK(page.items[1].body == with_id("text"));
    CHECK(page.items[2].body == with_id("lz4zz"));
    run_browse_query q;
    q.with_bodies = true;
    q.search = "acme";
    CHECK(s->browse_runs(q).items.size() == 3);
    // Written again with new words: the old words (read back from the zstd and text bodies to
    // take them out of the search index) go, and the body is now an LZ4 frame.
    for (const char* id : {"golden", "text"}) {
        std::string b = with_id(id);
        b.replace(b.find("Acme Acme Acme"), 14, "Initech");
        run_fields f = s->find_run(id)->fields;
        s->put_run(f, b, fetched);
        CHECK(s->find_run(id)->body == b);
    }
    CHECK(found(*s, "acme") == std::vector<std::string>{"lz4zz"});
    CHECK(found(*s, "initech").size() == 2);
    s->tombstone_run("golden", fetched);
    CHECK(found(*s, "initech") == std::vector<std::string>{"text"});
    sqlite::database db(path);
    sqlite::statement kinds(db,
                            "SELECT count(*) FROM runs WHERE typeof(body) = 'blob'"
                            " AND substr(body, 1, 4) = x'04224D18'");
    REQUIRE(kinds.step());
    CHECK(kinds.column_int64(0) == 3);
}

TEST_CASE("store scale: search finds data values, follows replacements and tombstones" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        const std::string a = tricky_body("a", "alpha");
        const std::string b = tricky_body("b", "bravo");
        s.put_runs({{fields_of(a), a}, {fields_of(b), b}}, fetched);
        CHECK(found(s, "alpha") == std::vector<std::string>{"a"});
        CHECK(found(s, "zurich").size() == 2);  // unescaped, accents folded
        CHECK(found(s, "quoted bolts").size() == 2);
        CHECK(found(s, "b.pdf") == std::vector<std::string>{"b"});  // the file name
        CHECK(found(s, "outsideword").empty());                     // not under data
        CHECK(found(s, "word").empty());                            // keys are not text

        // Replaced: the old words go, the new ones come; the same bytes again change nothing.
        const std::string a2 = tricky_body("a", "charlie");
        s.put_run(fields_of(a2), a2, fetched);
        CHECK(found(s, "alpha").empty());
        CHECK(found(s, "charlie") == std::vector<std::string>{"a"});
        s.put_run(fields_of(a2), a2, fetched);
        CHECK(found(s, "charlie") == std::vector<std::string>{"a"});
        // A new file name alone reindexes too.
        run_fields renamed = fields_of(a2);
        renamed.file_name = "renamed.pdf";
        s.put_run(renamed, a2, fetched);
        CHECK(found(s, "renamed") == std::vector<std::string>{"a"});
        CHECK(found(s, "a.pdf").empty());

        // Tombstoned: gone from search, lists and counts, and a late answer does not bring it back.
        s.grant("tenant", {"proj-1"});
        s.tombstone_run("b", fetched);
        CHECK(found(s, "bravo").empty());
        CHECK(found(s, "zurich") == std::vector<std::string>{"a"});
        s.put_run(fields_of(b), b, fetched);
        CHECK(found(s, "bravo").empty());
        const run_page page = s.list_runs(tenant_query("agent-1"));
        CHECK(page.total == 1);
        REQUIRE(page.items.size() == 1);
        CHECK(page.items[0].fields.id == "a");
        REQUIRE(s.find_run("b"));
        CHECK(s.find_run("b")->deleted_at);
        CHECK(s.find_run("b")->body == b);  // the body it had when deleted, intact
    });
}

TEST_CASE("store scale: list totals and summaries follow every write" *
          doctest::test_suite("store")) {
    // Random puts (new runs, status and agent changes, same bytes again) and tombstones, checked
    // against a model after each step.
    on_each_store([](store& s) {
        s.grant("tenant", {"p1", "p2"});
        std::mt19937 rng(42);
        struct model_run {
            std::string agent, project, status;
            bool deleted = false;
        };
        std::map<std::string, model_run> model;
        const char* agents[] = {"ag1", "ag2"};
        const char* projects[] = {"p1", "p2", "p3"};  // p3: not granted
        const char* statuses[] = {"PENDING", "SUCCESS", "ERROR"};
        for (int step = 0; step < 300; ++step) {
            const std::string id = "r" + std::to_string(rng() % 40);
            if (rng() % 6 == 0) {
                s.tombstone_run(id, fetched);
                model[id].deleted = true;  // a bodiless tombstone when never stored
                continue;
            }
            run_fields f;
            f.id = id;
            f.extraction_agent_id = agents[rng() % 2];
            f.project_id = projects[rng() % 3];
            f.status = statuses[rng() % 3];
            f.created_at = "2025-01-" + std::to_string(10 + rng() % 20);
            s.put_run(f, R"({"id":")" + id + R"(","data":{"s":")" + f.status + R"("}})", fetched);
            model_run& m = model[id];
            if (!m.deleted) m = {f.extraction_agent_id, f.project_id, f.status, false};

            for (const std::string agent : {"", "ag1", "ag2"}) {
                for (const std::string project : {"", "p1", "p3"}) {
                    std::int64_t expected = 0;
                    for (const auto& [rid, r] : model) {
                        if (r.deleted || r.agent.empty() || r.project == "p3") continue;
                        if (!agent.empty() && r.agent != agent) continue;
                        if (!project.empty() && r.project != project) continue;
                        ++expected;
                    }
                    CAPTURE(step);
                    CAPTURE(agent);
                    CAPTURE(project);
                    const run_page page = s.list_runs(tenant_query(agent, project));
                    CHECK(page.total == expected);
                    CHECK(static_cast<std::int64_t>(page.items.size()) == expected);
                }
            }
        }
        std::int64_t summarised = 0, stored = 0;
        for (const agent_summary& a : s.agent_summaries())
            summarised += a.runs;
        for (const auto& [rid, r] : model)
            stored += !r.deleted && !r.agent.empty();
        CHECK(summarised == stored);
    });
}

TEST_CASE("store scale file: migration 004 upgrades a version-3 store without loss") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    const std::string kept = tricky_body("kept", "pythagoras");
    const std::string gone = tricky_body("gone", "euclid");
    {
        // A store as runmirror left it before 004: written by the 003 triggers.
        sqlite::database db(path);
        apply_migrations(db, embedded_migrations().first(3));
        sqlite::statement put(db,
                              "INSERT INTO runs (id, body, project_id, extraction_agent_id,"
                              " job_id, file_name, status, created_at, fetched_at)"
                              " VALUES (?1, ?2, 'proj-1', 'agent-1', ?3, ?4, ?5, ?6, 1)");
        const std::vector<std::vector<std::string>> rows = {
            {"kept", kept, "job-kept", "kept.pdf", "SUCCESS", "2025-03"},
            {"gone", gone, "job-gone", "gone.pdf", "SUCCESS", "2025-02"},
            {"odd", "{not json", "job-odd", "strange.pdf", "ERROR", "2025-01"},
            {"short", "{}", "", "", "PENDING", "2024-12"},
        };
        for (const auto& r : rows) {
            put.bind_text(1, r[0]);
            put.bind_text(2, r[1]);
            put.bind_text(3, r[2]);
            put.bind_text(4, r[3]);
            put.bind_text(5, r[4]);
            put.bind_text(6, r[5]);
            put.run();
            put.reset();
        }
        db.exec(
            "UPDATE runs SET deleted_at = 2 WHERE id = 'gone';"
            "INSERT INTO runs (id, body, fetched_at, deleted_at) VALUES ('never', NULL, 3, 3);"
            "INSERT INTO grants VALUES ('tenant', 'proj-1', 1);"
            "INSERT INTO list_pages VALUES ('tenant', 'k', '{\"items\":[]}', 5);"
            "INSERT INTO watches (kind, run_id, tenant, created_at, next_poll_at, updated_at)"
            " VALUES ('run', 'short', 'tenant', 1, 2, 1)");
        CHECK(schema_version(db) == 3);
    }
    auto s = open_sqlite_store(path);
    CHECK(s->schema_version() == embedded_migrations().back().version);

    // Every run, byte for byte, tombstones kept.
    CHECK(s->find_run("kept")->body == kept);
    CHECK(s->find_run("odd")->body == "{not json");
    CHECK(s->find_run("short")->body == "{}");
    CHECK(s->find_run("gone")->body == gone);
    CHECK(s->find_run("gone")->deleted_at == from_unix_ms(2));
    CHECK(s->find_run("never")->deleted_at == from_unix_ms(3));
    CHECK(s->find_run_by_job("job-kept")->fields.id == "kept");
    CHECK(s->find_run("kept")->fields.file_name == "kept.pdf");

    // Search rebuilt: data and file names, never the tombstoned run.
    CHECK(found(*s, "pythagoras") == std::vector<std::string>{"kept"});
    CHECK(found(*s, "strange") == std::vector<std::string>{"odd"});
    CHECK(found(*s, "euclid").empty());
    CHECK(found(*s, "zurich") == std::vector<std::string>{"kept"});

    // Counts, grants, list pages and watches.
    const run_page page = s->list_runs(tenant_query("agent-1"));
    CHECK(page.total == 3);
    CHECK(page.items.size() == 3);
    CHECK(s->has_grant("tenant", "proj-1"));
    CHECK(s->find_list_page("tenant", "k")->body == R"({"items":[]})");
    CHECK(s->list_watches(watch_listing::all, 10).size() == 1);
    REQUIRE(s->agent_summaries().size() == 1);
    CHECK(s->agent_summaries()[0].by_status ==
          std::map<std::string, std::int64_t>{{"ERROR", 1}, {"PENDING", 1}, {"SUCCESS", 1}});

    // Writes after the upgrade: replacing a migrated run removes its migrated index entries.
    const std::string kept2 = tricky_body("kept", "archimedes");
    s->put_run(fields_of(kept2), kept2, fetched);
    CHECK(found(*s, "pythagoras").empty());
    CHECK(found(*s, "archimedes") == std::vector<std::string>{"kept"});
    s->tombstone_run("odd", fetched);
    CHECK(found(*s, "strange").empty());
    const std::string fresh = tricky_body("fresh", "hypatia");
    s->put_run(fields_of(fresh), fresh, fetched);
    CHECK(found(*s, "hypatia") == std::vector<std::string>{"fresh"});
    s.reset();

    {
        // AUTOINCREMENT survived the rename: a run deleted outside the store (its words left
        // behind in the contentless index) never lends its number to a later run.
        sqlite::database db(path);
        db.exec("DELETE FROM runs WHERE id = 'fresh'");
    }
    s = open_sqlite_store(path);
    const std::string later = tricky_body("later", "theon");
    s->put_run(fields_of(later), later, fetched);
    CHECK(found(*s, "hypatia").empty());
    CHECK(found(*s, "theon") == std::vector<std::string>{"later"});
    s.reset();

    // Bodies are compressed at rest after the migration; the FTS index stays consistent.
    sqlite::database db(path);
    sqlite::statement t(db, "SELECT typeof(body) FROM runs WHERE id = 'gone'");
    REQUIRE(t.step());
    CHECK(t.column_text(0) == "blob");
    db.exec("INSERT INTO run_search (run_search) VALUES ('integrity-check')");
}

TEST_CASE("store scale file: a new store has 1 KiB pages, an existing one keeps its own") {
    temp_dir dir;
    auto page_size = [](const std::string& path) {
        sqlite::database db(path);
        sqlite::statement s(db, "PRAGMA page_size");
        REQUIRE(s.step());
        return s.column_int64(0);
    };
    open_sqlite_store(dir.file("new.db"));
    CHECK(page_size(dir.file("new.db")) == 1024);
    {
        sqlite::database db(dir.file("old.db"));
        db.exec("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL");
        apply_migrations(db, embedded_migrations().first(1));
    }
    open_sqlite_store(dir.file("old.db"))
        ->put_run(fields_of(tricky_body("r", "w")), tricky_body("r", "w"), fetched);
    CHECK(page_size(dir.file("old.db")) == 16384);
}
