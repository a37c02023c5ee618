/* A bitmap font for the sample's text: printable ASCII in 5 x 9 glyphs (7 rows above
 * the baseline, 2 for descenders), drawn into a 32-bit surface at an integer scale.
 * A font table of our own keeps the sample free of font files and SDL2_ttf. */
#ifndef SDL_NPCS_FONT_H
#define SDL_NPCS_FONT_H

#include <SDL.h>

#include <stddef.h>

#define FONT_GLYPH_W 5
#define FONT_GLYPH_H 9
#define FONT_CELL_W (FONT_GLYPH_W + 1) /* one column of space between characters */
#define FONT_CELL_H (FONT_GLYPH_H + 2) /* two rows between lines */

/* Draws one character (a code point; anything outside printable ASCII shows as '?')
 * with its top-left corner at (x, y), clipped to the surface. The surface must be
 * 32 bits per pixel and locked if it needs locking. */
void font_draw_char(SDL_Surface* s, int x, int y, int scale, Uint32 color, unsigned long code_point);

/* Draws `len` bytes of UTF-8 on one line, one cell per code point; returns the x
 * after the last character. */
int font_draw_text(SDL_Surface* s, int x, int y, int scale, Uint32 color, const char* text, size_t len);

/* Decodes the code point at text[*i] (len bytes in all) and advances *i past it.
 * A malformed sequence gives one U+FFFD per byte, which draws as '?'. */
unsigned long font_next_code_point(const char* text, size_t len, size_t* i);

#endif
