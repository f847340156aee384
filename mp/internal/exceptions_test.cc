#include "mp/internal/exceptions.h"

#include <cerrno>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <typeinfo>
#include <variant>

#include "gtest/gtest.h"
#include "mp/errors.h"

namespace mp::internal {
namespace {

template <typename Throw>
CaughtException Catch(Throw do_throw) {
  try {
    do_throw();
  } catch (...) {
    return CurrentException();
  }
  return {};
}

struct Derived : std::invalid_argument {
  Derived() : std::invalid_argument("derived") {}
};

TEST(ExceptionsTest, StandardExceptionsMapToPythonsAndKeepTheirTypeAndWhat) {
  struct Case {
    std::function<void()> do_throw;
    PyExc python;
    const char* type;
  };
  const Case cases[] = {
      {[] { throw std::bad_alloc(); }, PyExc::kMemoryError, "std::bad_alloc"},
      {[] { throw std::invalid_argument("x"); }, PyExc::kValueError, "std::invalid_argument"},
      {[] { throw std::domain_error("x"); }, PyExc::kValueError, "std::domain_error"},
      {[] { throw std::length_error("x"); }, PyExc::kValueError, "std::length_error"},
      {[] { throw std::out_of_range("x"); }, PyExc::kIndexError, "std::out_of_range"},
      {[] { throw std::overflow_error("x"); }, PyExc::kOverflowError, "std::overflow_error"},
      {[] { throw std::range_error("x"); }, PyExc::kOverflowError, "std::range_error"},
      {[] { throw std::underflow_error("x"); }, PyExc::kArithmeticError, "std::underflow_error"},
      {[] { throw std::bad_cast(); }, PyExc::kTypeError, "std::bad_cast"},
      {[] { (void)std::get<int>(std::variant<int, double>(1.0)); }, PyExc::kTypeError, "std::bad_variant_access"},
      {[] { (void)std::optional<int>().value(); }, PyExc::kTypeError, "std::bad_optional_access"},
      {[] { std::function<void()>()(); }, PyExc::kTypeError, "std::bad_function_call"},
      {[] { throw std::runtime_error("x"); }, PyExc::kRuntimeError, "std::runtime_error"},
      {[] { throw std::logic_error("x"); }, PyExc::kException, "std::logic_error"},
      {[] { throw Derived(); }, PyExc::kValueError, "mp::internal::(anonymous namespace)::Derived"},
  };
  for (const Case& c : cases) {
    CaughtException e = Catch(c.do_throw);
    EXPECT_TRUE(Is(e.python, c.python)) << c.type << ": " << e.python;
    EXPECT_EQ(e.type, c.type);
    EXPECT_TRUE(e.is_std_exception);
    EXPECT_FALSE(e.what.empty()) << c.type;
  }
}

TEST(ExceptionsTest, SystemErrorIsTheOSErrorOfItsErrno) {
  CaughtException e = Catch([] { throw std::system_error(ENOENT, std::generic_category(), "open x"); });
  EXPECT_TRUE(Is(e.python, PyExc::kFileNotFoundError)) << e.python;
  EXPECT_NE(e.python.message().find("[Errno 2]"), absl::string_view::npos) << e.python;
}

TEST(ExceptionsTest, ANonExceptionIsAnException) {
  CaughtException e = Catch([] { throw 7; });
  EXPECT_TRUE(Is(e.python, PyExc::kException));
  EXPECT_EQ(e.type, "int");
  EXPECT_FALSE(e.is_std_exception);
}

}  // namespace
}  // namespace mp::internal
