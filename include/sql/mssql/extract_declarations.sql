{# The @params of sp_describe_first_result_set: every parameter as nvarchar(4000). The result
   set's description does not depend on them, and values are sent as text anyway. #}
{% for name in names %}@{{ name }} nvarchar(4000){{ ", " if not loop.last }}{% endfor %}
