/* Prints the library's version string; fails when the header it was compiled with and
 * the library it runs with disagree (an install whose parts come from two versions). */
#include <moemamba/moemamba.h>

#include <stdio.h>

int main(void) {
  if (mmb_version() != MMB_VERSION_NUMBER) {
    fprintf(stderr, "header %d, library %u\n", MMB_VERSION_NUMBER, (unsigned)mmb_version());
    return 1;
  }
  printf("%s\n", mmb_version_string());
  return 0;
}
