# Appends the rules for the C++17 core to nginx's Makefile (sourced by
# nginx's auto/make after the Makefile is written). Each object depends on
# the headers it includes (the compiler's -MMD list), so editing a test or
# tool header rebuilds nothing here.

mkdir -p $OPAY_CORE_DIR

opay_objs=
for opay_src in $OPAY_CORE_SRCS; do
    opay_obj=$OPAY_CORE_DIR/`basename $opay_src .cpp`.o
    opay_objs="$opay_objs $opay_obj"
    cat << END >> $NGX_MAKEFILE

$opay_obj: $opay_src $ngx_addon_dir/config.make
	\$(OPAY_CXX) -c \$(OPAY_CXXFLAGS) -MMD -MP \\
	    -I$ngx_addon_dir/include -I$ngx_addon_dir/src/core \\
	    -o $opay_obj $opay_src
-include $OPAY_CORE_DIR/`basename $opay_src .cpp`.d
END
done

cat << END >> $NGX_MAKEFILE

OPAY_CXX = ${OPAY_CXX:-c++}
# -DNDEBUG as in CMake's RelWithDebInfo: RapidJSON's internal asserts
# would otherwise run on every parsed and written value.
OPAY_CXXFLAGS = -std=c++17 -fPIC -fvisibility=hidden -O2 -g -DNDEBUG -Wall -Wextra ${OPAY_CXXFLAGS:-}

$OPAY_CORE_LIB: $opay_objs
	rm -f $OPAY_CORE_LIB
	ar rcs $OPAY_CORE_LIB $opay_objs

$NGX_OBJS${ngx_dirsep}nginx${ngx_binext}: $OPAY_CORE_LIB

$NGX_OBJS${ngx_dirsep}ngx_http_opay_module$ngx_modext: $OPAY_CORE_LIB
END
