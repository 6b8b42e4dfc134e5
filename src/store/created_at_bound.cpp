#include "store/created_at_bound.hpp"

#include <chrono>
#include <cstdio>

namespace runmirror {

std::string created_at_bound(calendar_time us) {
    using namespace std::chrono;
    const auto day = floor<days>(us);
    const year_month_day date(day);
    const hh_mm_ss time(us - day);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lld", int(date.year()),
                  unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                  int(time.minutes().count()), int(time.seconds().count()),
                  static_cast<long long>(time.subseconds().count()));
    std::string text(buf);
    while (text.back() == '0')
        text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
}

}  // namespace runmirror
