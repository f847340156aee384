#include "mp/internal/exceptions.h"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <typeinfo>
#include <variant>

#include "mp/errors.h"

namespace mp::internal {
namespace {

// The Python error for the exception being handled (see the header's table).
// Most specific first: a catch clause takes derived classes too.
absl::Status MapCurrent() {
  try {
    throw;
  } catch (const std::bad_alloc& e) {
    return PyError(PyExc::kMemoryError, e.what());
  } catch (const std::system_error& e) {
    if (e.code().category() == std::generic_category() || e.code().category() == std::system_category()) {
      return PyOSError(e.code().value(), e.what());
    }
    return PyError(PyExc::kOSError, e.what());
  } catch (const std::invalid_argument& e) {
    return PyError(PyExc::kValueError, e.what());
  } catch (const std::domain_error& e) {
    return PyError(PyExc::kValueError, e.what());
  } catch (const std::length_error& e) {
    return PyError(PyExc::kValueError, e.what());
  } catch (const std::out_of_range& e) {
    return PyError(PyExc::kIndexError, e.what());
  } catch (const std::overflow_error& e) {
    return PyError(PyExc::kOverflowError, e.what());
  } catch (const std::range_error& e) {
    return PyError(PyExc::kOverflowError, e.what());
  } catch (const std::underflow_error& e) {
    return PyError(PyExc::kArithmeticError, e.what());
  } catch (const std::bad_cast& e) {
    return PyError(PyExc::kTypeError, e.what());
  } catch (const std::bad_typeid& e) {
    return PyError(PyExc::kTypeError, e.what());
  } catch (const std::bad_variant_access& e) {
    return PyError(PyExc::kTypeError, e.what());
  } catch (const std::bad_optional_access& e) {
    return PyError(PyExc::kTypeError, e.what());
  } catch (const std::bad_function_call& e) {
    return PyError(PyExc::kTypeError, e.what());
  } catch (const std::runtime_error& e) {
    return PyError(PyExc::kRuntimeError, e.what());
  } catch (const std::exception& e) {
    return PyError(PyExc::kException, e.what());
  } catch (...) {
    return PyError(PyExc::kException, "a value not derived from std::exception");
  }
}

}  // namespace

std::string TypeName(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                  &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(type.name());
}

CaughtException CurrentException() {
  CaughtException caught;
  caught.python = MapCurrent();
  try {
    throw;
  } catch (const std::exception& e) {
    caught.type = TypeName(typeid(e));
    caught.what = e.what();
    caught.is_std_exception = true;
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    caught.type = t ? TypeName(*t) : std::string("unknown exception");
  }
  return caught;
}

}  // namespace mp::internal
