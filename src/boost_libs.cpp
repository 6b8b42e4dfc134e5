// The one translation unit that compiles Asio, Asio-SSL and Beast (separate compilation).
// Every other TU sees only declarations, which keeps incremental rebuilds short.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
